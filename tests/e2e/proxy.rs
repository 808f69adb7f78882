//! A TCP forwarding proxy on loopback that a test controls: point a server at it instead of
//! the shared PostgreSQL, then cut it (the database becomes unreachable: connections are
//! closed and new ones refused), restore it, or slow it down — without touching the shared
//! PostgreSQL server other tests use.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    inner: Arc<Inner>,
}

struct Inner {
    upstream: SocketAddr,
    listener: Mutex<Option<TcpListener>>,
    streams: Mutex<Vec<TcpStream>>,
    delay_ms: AtomicU64,
    stop: AtomicBool,
}

impl Proxy {
    /// Forwards a free loopback port to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            upstream,
            listener: Mutex::new(Some(listener)),
            streams: Mutex::new(Vec::new()),
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let i = inner.clone();
        std::thread::spawn(move || accept_loop(&i));
        Proxy { port, inner }
    }

    /// `url` (a `postgres://…:5432/db` URL) pointed at this proxy.
    pub fn pg_url(&self, url: &str) -> String {
        let up = format!(":{}/", self.inner.upstream.port());
        assert!(url.contains(&up), "{url} does not name port {up}");
        url.replacen(&up, &format!(":{}/", self.port), 1)
    }

    /// Unreachable from now on: the listener is closed (connections are refused) and every
    /// forwarded connection is cut.
    pub fn cut(&self) {
        drop(self.inner.listener.lock().unwrap().take());
        for s in self.inner.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Reachable again, on the same port.
    pub fn restore(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        l.set_nonblocking(true).unwrap();
        *self.inner.listener.lock().unwrap() = Some(l);
    }

    /// Delays every forwarded chunk (both directions) by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.inner
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn accept_loop(inner: &Arc<Inner>) {
    while !inner.stop.load(Ordering::SeqCst) {
        let accepted = {
            let l = inner.listener.lock().unwrap();
            l.as_ref().map(TcpListener::accept)
        };
        match accepted {
            Some(Ok((client, _))) => {
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(inner.upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut streams = inner.streams.lock().unwrap();
                    streams.push(client.try_clone().unwrap());
                    streams.push(server.try_clone().unwrap());
                }
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let i = inner.clone();
                    std::thread::spawn(move || pump(from, to, &i));
                }
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, inner: &Inner) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let d = inner.delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            std::thread::sleep(Duration::from_millis(d));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
