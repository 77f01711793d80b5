//! WeChat Pay over HTTP (issue 24): orders priced by the server
//! (`POST /v1/pay/orders`), the buyer's orders, close, and WeChat Pay's notifications
//! (`POST /v1/pay/notify`). The rules are in [`yunqiao_core::pay`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use yunqiao_core::pay::refunds::NewRefund;
use yunqiao_core::pay::{ItemRef, NewOrder, SignedHeaders};

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::views::typed;
use crate::{ApiRouter, AppState};

/// `/v1/pay/orders*` (the `yq-pay` function).
pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(close_order))
        .routes(routes!(refund_order))
        .routes(routes!(admin_list_orders))
        .routes(routes!(admin_get_order))
}

/// `POST /v1/pay/notify` (the `yq-pay-notify` function).
pub fn notify_router() -> ApiRouter {
    ApiRouter::new().routes(routes!(notify))
}

/// A record for sale.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayItem {
    pub table: String,
    pub id: String,
}

/// A new order: an item (priced by the server) and a quantity, or — only where the
/// configuration allows it (tips) — an amount in fen, within its bounds.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    #[serde(default)]
    pub item: Option<PayItem>,
    /// 1 to `pay.max_quantity` (default 1).
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Fen; refused (`PAY_AMOUNT_NOT_ALLOWED`) with an item, or unless configured.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Only with an amount (an item's description comes from its record).
    #[serde(default)]
    pub description: Option<String>,
}

/// An order, as its buyer (or an admin) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayOrderView {
    pub out_trade_no: String,
    /// `PENDING`, `PAID`, `CLOSED`, `PARTIALLY_REFUNDED` or `REFUNDED`.
    pub state: String,
    /// Fen.
    pub amount: i64,
    pub currency: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<PayItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// The buyer's user id.
    pub buyer: String,
    /// WeChat Pay's transaction id, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// RFC 3339, as every time.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Until when it may be paid (`pay.order_ttl_secs` after creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Fen refunded so far (refunds WeChat Pay confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<i64>,
    /// Its refunds, oldest first (on a single order's read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
}

/// A refund.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub out_refund_no: String,
    /// Fen.
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `PROCESSING`, `SUCCESS`, `ABNORMAL` (not final), `CLOSED`, or `FAILED` (WeChat
    /// Pay refused the request).
    pub status: String,
    /// WeChat Pay's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_at: Option<String>,
}

/// A refund request (admins). Repeating it with the same `out_refund_no` answers the same
/// refund.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefundBody {
    /// Fen; default: all that is left to refund.
    #[serde(default)]
    pub amount: Option<i64>,
    /// At most 80 characters (shown to the buyer by WeChat).
    #[serde(default)]
    pub reason: Option<String>,
    /// Your idempotency key: 1 to 64 of `0-9 A-Z a-z _ - | * @`; default: a new one.
    #[serde(default)]
    pub out_refund_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundAnswer {
    pub order: PayOrderView,
    pub refund: RefundView,
}

/// What `wx.requestPayment` takes, signed with the merchant key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentParams {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// `RSA`.
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedOrder {
    pub order: PayOrderView,
    pub payment: PaymentParams,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayOrderList {
    pub items: Vec<PayOrderView>,
    /// For the next page; `null` at the end.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1 to 100 (default 20).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminListParams {
    /// `PENDING`, `PAID`, `CLOSED`, `PARTIALLY_REFUNDED` or `REFUNDED`; unset: every
    /// order.
    pub state: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One line of an order's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayHistoryLine {
    /// RFC 3339.
    pub at: String,
    /// `state` (a transition), `refund` (a refund's step) or `action` (an
    /// after-payment action's run).
    pub kind: String,
    /// A transition's former state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A transition's new state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// What moved it: `notify`, `query`, `reconcile`, `close`, `expired`, `answer`
    /// (WeChat Pay's answer to a refund request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// An action's name (`on_paid shop.paid`, `actions[0] create receipts`,
    /// `message pay.paid`, `publish sales`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Which run of the action (1, 2, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// Why the action failed (it is retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A refund line's refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_refund_no: Option<String>,
    /// A refund line's amount, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// A refund line's new status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayOrderHistory {
    pub order: PayOrderView,
    pub history: Vec<PayHistoryLine>,
}

/// What WeChat Pay is told when a notification was not recorded (it retries).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotifyFail {
    /// Always `FAIL`.
    pub code: String,
    pub message: String,
}

/// Creates an order (a logged-in user). The amount is the server's: the item's price
/// field times the quantity, the item read under the caller's rules.
#[utoipa::path(post, path = "/v1/pay/orders", tag = "pay", security(("bearer" = [])),
    request_body = NewOrderBody,
    responses((status = 201, description = "the order (PENDING) and `wx.requestPayment`'s parameters", body = CreatedOrder),
        (status = 400, description = "`PAY_AMOUNT_NOT_ALLOWED` (a client amount where none is allowed, or out of bounds), `PAY_ITEM_NOT_PRICED`, `INVALID_FIELD` (quantity)", body = ErrorBody),
        (status = 502, description = "`WECHAT_ERROR`: WeChat Pay refused the order", body = ErrorBody),
        (status = 503, description = "`PAY_UNAVAILABLE`: WeChat Pay is not configured", body = ErrorBody)))]
pub async fn create_order(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiJson(body): ApiJson<NewOrderBody>,
) -> ApiResult<(StatusCode, Json<CreatedOrder>)> {
    let req = NewOrder {
        item: body.item.map(|i| ItemRef {
            table: i.table,
            id: i.id,
        }),
        quantity: body.quantity,
        amount: body.amount,
        description: body.description,
    };
    let v = s.pay.create(&c, req).await?;
    Ok((StatusCode::CREATED, Json(typed(v)?)))
}

/// The caller's own orders, newest first.
#[utoipa::path(get, path = "/v1/pay/orders", tag = "pay", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = PayOrderList)))]
pub async fn list_orders(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult<Json<PayOrderList>> {
    Ok(Json(typed(s.pay.list(&c, q.limit, q.cursor).await?)?))
}

/// An order (its buyer or an admin). While it is pending WeChat Pay is asked first, so a
/// lost notification does not leave a paid order unpaid.
#[utoipa::path(get, path = "/v1/pay/orders/{out_trade_no}", tag = "pay", security(("bearer" = [])),
    responses((status = 200, body = PayOrderView)))]
pub async fn get_order(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(no): ApiPath<String>,
) -> ApiResult<Json<PayOrderView>> {
    Ok(Json(typed(s.pay.get(&c, &no).await?)?))
}

/// Closes a pending order, at WeChat Pay and here (its buyer or an admin).
#[utoipa::path(post, path = "/v1/pay/orders/{out_trade_no}/close", tag = "pay", security(("bearer" = [])),
    responses((status = 200, description = "the order, CLOSED", body = PayOrderView),
        (status = 409, description = "`PAY_ORDER_NOT_PENDING`: already paid", body = ErrorBody)))]
pub async fn close_order(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(no): ApiPath<String>,
) -> ApiResult<Json<PayOrderView>> {
    Ok(Json(typed(s.pay.close(&c, &no).await?)?))
}

/// Refunds a paid order, all or part of what is left (admins). WeChat Pay confirms it
/// with a refund notification (`REFUND.SUCCESS`): the order becomes `PARTIALLY_REFUNDED`
/// or `REFUNDED` and the buyer gets a `pay.refunded` message.
#[utoipa::path(post, path = "/v1/pay/orders/{out_trade_no}/refunds", tag = "pay", security(("bearer" = [])),
    request_body = NewRefundBody,
    responses((status = 200, description = "the refund (`PROCESSING` until WeChat Pay confirms) and the order", body = RefundAnswer),
        (status = 400, description = "`INVALID_ARGUMENT`: an amount over what is left, a reason too long, a bad `out_refund_no`", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not an admin", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`PAY_ORDER_NOT_PAID`: the order is not paid; `CONFLICT`: this `out_refund_no` is another refund", body = ErrorBody),
        (status = 502, description = "`WECHAT_ERROR`: WeChat Pay refused the refund (it is marked FAILED)", body = ErrorBody)))]
pub async fn refund_order(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(no): ApiPath<String>,
    ApiJson(body): ApiJson<NewRefundBody>,
) -> ApiResult<Json<RefundAnswer>> {
    let req = NewRefund {
        amount: body.amount,
        reason: body.reason,
        out_refund_no: body.out_refund_no,
    };
    Ok(Json(typed(s.pay.refund(&c, &no, req).await?)?))
}

/// The pay log (admins): every order, or those in one state, newest first.
#[utoipa::path(get, path = "/v1/admin/pay/orders", tag = "pay", security(("bearer" = [])),
    params(AdminListParams),
    responses((status = 200, body = PayOrderList),
        (status = 400, description = "`INVALID_ARGUMENT`: an unknown state", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not an admin", body = ErrorBody)))]
pub async fn admin_list_orders(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiQuery(q): ApiQuery<AdminListParams>,
) -> ApiResult<Json<PayOrderList>> {
    let v = s
        .pay
        .admin_list(&c, q.state.as_deref(), q.limit, q.cursor)
        .await?;
    Ok(Json(typed(v)?))
}

/// An order and its history (admins): transitions, and each run or failure of its
/// after-payment actions.
#[utoipa::path(get, path = "/v1/admin/pay/orders/{out_trade_no}", tag = "pay", security(("bearer" = [])),
    responses((status = 200, body = PayOrderHistory),
        (status = 403, description = "`FORBIDDEN`: not an admin", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = ErrorBody)))]
pub async fn admin_get_order(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(no): ApiPath<String>,
) -> ApiResult<Json<PayOrderHistory>> {
    Ok(Json(typed(s.pay.admin_get(&c, &no).await?)?))
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// WeChat Pay's notification (no session: the `Wechatpay-*` signature is checked with
/// the key its `Wechatpay-Serial` names, the resource decrypted with the APIv3 key).
/// 204 once recorded (or already recorded); anything else makes WeChat Pay retry.
#[utoipa::path(post, path = "/v1/pay/notify", tag = "pay",
    request_body(content = String, description = "WeChat Pay's notification envelope (JSON), signed in the `Wechatpay-Timestamp`, `Wechatpay-Nonce`, `Wechatpay-Signature` and `Wechatpay-Serial` headers", content_type = "application/json"),
    responses((status = 204, description = "recorded"),
        (status = 400, description = "not a notification of ours (malformed, undecryptable, another order or amount)", body = NotifyFail),
        (status = 401, description = "the signature does not verify: unknown key, stale (5 minutes or more), a `WECHATPAY/SIGNTEST/` probe, forged", body = NotifyFail),
        (status = 503, description = "not recorded now (WeChat Pay retries)", body = NotifyFail)))]
pub async fn notify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let h = SignedHeaders {
        timestamp: header(&headers, "wechatpay-timestamp"),
        nonce: header(&headers, "wechatpay-nonce"),
        signature: header(&headers, "wechatpay-signature"),
        serial: header(&headers, "wechatpay-serial"),
    };
    match s.pay.notify(&h, &body).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status())
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status.is_server_error() {
                "not recorded, retry".to_string()
            } else {
                e.code_str().to_string()
            };
            (
                status,
                Json(NotifyFail {
                    code: "FAIL".into(),
                    message,
                }),
            )
                .into_response()
        }
    }
}
