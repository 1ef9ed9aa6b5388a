//! Helpers shared by kafka-mock's integration tests: building request
//! frames, and a blocking TCP client for `MockCluster`.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_response_frame, encode_request_frame};
use kafka_proto::messages::RequestHeader;
use kafka_proto::{RequestBody, ResponseBody};

/// A request frame without its size prefix, as `Cluster::handle_frame` takes it.
pub fn request_frame(
    correlation_id: i32,
    version: i16,
    body: &RequestBody,
    client_id: &str,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(body.api_key().id())
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.into()));
    let mut buf = BytesMut::new();
    encode_request_frame(&header, body, &mut buf).expect("request encodes");
    buf.freeze().slice(4..)
}

/// A blocking client speaking kafka-proto frames to one broker over TCP.
pub struct TcpClient {
    /// The socket, for tests that write raw bytes.
    pub stream: TcpStream,
    correlation: i32,
}

impl TcpClient {
    /// Connects with a 10 s read timeout, so a missing answer fails the test.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        Self {
            stream,
            correlation: 0,
        }
    }

    /// Sends one request without waiting for an answer.
    #[allow(dead_code)] // not every test binary uses it
    pub fn send_only(&mut self, version: i16, body: impl Into<RequestBody>) {
        self.write(version, &body.into());
    }

    fn write(&mut self, version: i16, body: &RequestBody) {
        self.correlation += 1;
        let frame = request_frame(self.correlation, version, body, "tcp-client");
        self.stream
            .write_all(&(frame.len() as i32).to_be_bytes())
            .expect("write size");
        self.stream.write_all(&frame).expect("write frame");
    }

    /// Sends one request and waits for its response.
    pub fn call(&mut self, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
        let body = body.into();
        let key = body.api_key();
        self.write(version, &body);
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("read size");
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).expect("read frame");
        let (h, body) =
            decode_response_frame(Bytes::from(frame), key, version).expect("response decodes");
        assert_eq!(h.correlation_id, self.correlation);
        body
    }
}
