//! Opening a connection to a subscriber: the guarded resolver's addresses only, the peer
//! checked again once connected, TLS for https, then HTTP/1.1.

use super::{Connection, Failure, Origin};
use crate::delivery::guard::{GuardedResolver, Policy};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

pub(crate) struct Connector {
    pub(crate) resolver: GuardedResolver,
    pub(crate) policy: Arc<Policy>,
    pub(crate) tls: tokio_rustls::TlsConnector,
    pub(crate) local_address: Option<IpAddr>,
    pub(crate) connect_timeout: Duration,
}

impl Connector {
    /// A new connection to `origin`: each allowed address in turn until one answers.
    pub(crate) async fn connect(&self, origin: &Origin) -> Result<Connection, Failure> {
        let addrs = self.resolver.resolve_checked(&origin.host).await?;
        let mut last = None;
        for mut addr in addrs {
            addr.set_port(origin.port);
            match tokio::time::timeout(self.connect_timeout, self.dial(addr)).await {
                Ok(Ok(tcp)) => return self.handshake(origin, tcp).await,
                Ok(Err(e)) => last = Some(Failure::Connect(format!("connecting to {addr}: {e}"))),
                Err(_) => {
                    last = Some(Failure::Timeout(format!(
                        "connecting to {addr} timed out after {} ms",
                        self.connect_timeout.as_millis()
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| Failure::Dns(format!("{} resolved to no address", origin.host))))
    }

    async fn dial(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        // A source address of the other family could not reach `addr` at all.
        if let Some(local) = self.local_address.filter(|l| l.is_ipv4() == addr.is_ipv4()) {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        socket.set_nodelay(true)?;
        socket.connect(addr).await
    }

    async fn handshake(&self, origin: &Origin, tcp: TcpStream) -> Result<Connection, Failure> {
        let peer = tcp
            .peer_addr()
            .map_err(|e| Failure::Connect(format!("connection lost at once: {e}")))?;
        // Last line of defence: the peer actually reached, before a byte is sent to it.
        if let Err(refused) = self.policy.check_ip(peer.ip()) {
            tracing::error!(%refused, "connected to a refused address; closing");
            return Err(Failure::Refused(refused));
        }
        if !origin.tls {
            return http1(tcp).await;
        }
        let name = rustls::pki_types::ServerName::try_from(origin.bare_host().to_owned())
            .map_err(|e| Failure::Tls(format!("invalid TLS server name: {e}")))?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| Failure::Tls(format!("TLS handshake failed: {e}")))?;
        http1(stream).await
    }
}

/// HTTP/1.1 over `io`; the connection's I/O runs in its own task until it closes.
async fn http1<T>(io: T) -> Result<Connection, Failure>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| Failure::Connect(super::error_chain(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "subscriber connection ended");
        }
    });
    Ok(Connection { sender })
}
