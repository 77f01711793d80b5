//! A sandbox worker process and nothing else (this crate's tests start it).

fn main() {
    // SAFETY: single-threaded at this point; the variable only tells this process what
    // it is.
    unsafe { std::env::set_var(yunqiao_quickjs::worker::WORKER_ENV, "1") };
    yunqiao_quickjs::enter_if_worker();
}
