//! The core on async-std: `cargo run -p any-runtime --example async_std`.
//! async-std is discontinued upstream; prefer smol for new code.

use std::future::Future;
use std::time::Instant;

use any_runtime::{demo, Runtime};

struct AsyncStd;

impl Runtime for AsyncStd {
    type Stream = async_std::net::TcpStream;

    // Spelled out: `async fn` here could not promise the `Send` the trait asks for.
    #[allow(clippy::manual_async_fn)]
    fn connect(
        host: String,
        port: u16,
    ) -> impl Future<Output = std::io::Result<Self::Stream>> + Send {
        async move { async_std::net::TcpStream::connect((host.as_str(), port)).await }
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        async_std::task::spawn(task);
    }

    async fn sleep_until(at: Instant) {
        async_std::task::sleep(at.saturating_duration_since(Instant::now())).await;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = kafka_mock::MockCluster::builder().build()?;
    let partitions =
        async_std::task::block_on(demo::<AsyncStd>(&mock.bootstrap(), "from-async-std"))?;
    println!("async-std: created from-async-std with {partitions} partitions");
    Ok(())
}
