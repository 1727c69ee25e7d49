//! A tiny HTTP/1.1 server on 127.0.0.1 for fetch tests.
//!
//! Hand-rolled on `TcpListener` rather than tiny_http because the tests need
//! a response that promises more bytes than it sends and then closes the
//! connection; tiny_http keeps connections alive and cannot do that. Every
//! response closes its connection. The server stops when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status with an empty body.
    Status(u16),
    /// 200 claiming `claimed_len` bytes, sending only `body`, then closing.
    Truncated { body: Vec<u8>, claimed_len: usize },
}

pub struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `routes` (path -> reply); other paths get 404.
    pub fn start(routes: &[(&str, Reply)]) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let routes: HashMap<String, Reply> = routes
            .iter()
            .map(|(p, r)| (p.to_string(), r.clone()))
            .collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &routes, &requests);
                    }
                }
            })
        };
        TestServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the stop flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, Reply>, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers; the tests only route on the path.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    requests.lock().unwrap().push(path.clone());
    let (status, body, claimed_len) = match routes.get(&path) {
        Some(Reply::Body(body)) => (200, body.as_slice(), body.len()),
        Some(Reply::Status(status)) => (*status, &[][..], 0),
        Some(Reply::Truncated { body, claimed_len }) => (200, body.as_slice(), *claimed_len),
        None => (404, &[][..], 0),
    };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {claimed_len}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|()| stream.write_all(body));
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn closed_port_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}
