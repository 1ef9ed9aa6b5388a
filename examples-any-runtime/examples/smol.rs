//! The core on smol: `cargo run -p any-runtime --example smol`.

use std::future::Future;
use std::time::Instant;

use any_runtime::{demo, Runtime};

struct Smol;

impl Runtime for Smol {
    type Stream = smol::net::TcpStream;

    fn connect(
        host: String,
        port: u16,
    ) -> impl Future<Output = std::io::Result<Self::Stream>> + Send {
        smol::net::TcpStream::connect((host, port))
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
    }

    async fn sleep_until(at: Instant) {
        smol::Timer::at(at).await;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = kafka_mock::MockCluster::builder().build()?;
    let partitions = smol::block_on(demo::<Smol>(&mock.bootstrap(), "from-smol"))?;
    println!("smol: created from-smol with {partitions} partitions");
    Ok(())
}
