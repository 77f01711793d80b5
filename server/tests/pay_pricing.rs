//! WeChat Pay priced by a cloud function export (`pay.price_function`, issue 24) on every
//! face: the export gets `{item, quantity, user}` and answers `{amount, description}`;
//! it may refuse (its own error), and an answer that is not a price is refused; the
//! client still never sets the amount.

mod common;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

const PRICING: &[(&str, &str)] = &[("YUNQIAO_PAY_PRICE_FUNCTION", "pricing.price")];

on_every_face!(env = super::PRICING;
    a_function_prices_the_order,
);

const PRICING_JS: &str = r#"
import { FunctionError } from "yunqiao";
export async function price({ item, quantity, user }) {
  if (item.table !== "plans") throw new FunctionError("NOT_FOR_SALE", "not for sale", 400);
  if (item.id === "broken") return { amount: 12.5 };
  if (item.id === "huge") return { amount: 1e12 };
  const unit = item.id === "gold" ? 3000 : 1000;
  return { amount: unit * quantity, description: `${item.id} × ${quantity} for ${user.id}` };
}
"#;

async fn a_function_prices_the_order(s: Server) {
    let api = Api::new(&s.base);
    let r = api
        .call(
            "PUT",
            "/v1/functions/pricing",
            Some(ADMIN_KEY),
            Some(json!({"source": PRICING_JS, "access": "nobody"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.settle().await;
    let (alice, me) = api.login("mock:alice").await;
    let order = |body: Value| {
        let api = api.clone();
        let alice = alice.clone();
        async move {
            api.call("POST", "/v1/pay/orders", Some(&alice), Some(body))
                .await
        }
    };
    let r = order(json!({"item": {"table": "plans", "id": "gold"}, "quantity": 3})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let o = &r.body["order"];
    assert_eq!(o["amount"], 9000, "{}", r.text);
    assert_eq!(
        o["description"],
        format!("gold × 3 for {}", me["id"].as_str().unwrap())
    );
    assert_eq!(o["item"], json!({"table": "plans", "id": "gold"}));
    assert_eq!(o["quantity"], 3);
    // Paid through the mock at that amount.
    let no = o["out_trade_no"].as_str().unwrap();
    let (_, n) = s.mock_post(&format!("/mock/pay/{no}"), json!({})).await;
    assert_eq!(n["notify_status"], 204, "{n}");
    // Refused: by the function, answers that are not prices, a client amount, quantities.
    for (body, status, code) in [
        (
            json!({"item": {"table": "other", "id": "x"}}),
            400,
            "NOT_FOR_SALE",
        ),
        (
            json!({"item": {"table": "plans", "id": "broken"}}),
            400,
            "PAY_ITEM_NOT_PRICED",
        ),
        (
            json!({"item": {"table": "plans", "id": "huge"}}),
            400,
            "PAY_ITEM_NOT_PRICED",
        ),
        (
            json!({"item": {"table": "plans", "id": "gold"}, "amount": 1}),
            400,
            "PAY_AMOUNT_NOT_ALLOWED",
        ),
        (
            json!({"item": {"table": "plans", "id": "gold"}, "quantity": 0}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            json!({"item": {"table": "plans", "id": "gold"}, "quantity": 100}),
            400,
            "INVALID_ARGUMENT",
        ),
    ] {
        let r = order(body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    let l = api.call("GET", "/v1/pay/orders", Some(&alice), None).await;
    assert_eq!(l.body["items"].as_array().unwrap().len(), 1, "{}", l.text);
}
