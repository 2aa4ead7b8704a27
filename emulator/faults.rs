//! The emulator's request pipeline: every request is recorded (method, path, size,
//! arrival time, publishes in flight), delayed by the configured latency, and may meet
//! a scripted fault (a status with rate-limit headers, a delay, a dropped connection,
//! a failure after the package was stored, a trickling or endless answer) or seeded
//! chaos.

use super::*;

/// What the request log records of a request before it is answered.
struct Seen {
    method: String,
    path: String,
    query: String,
    auth: String,
    user_agent: String,
    content_length: Option<u64>,
    is_publish: bool,
}

impl Seen {
    fn of(req: &Request) -> Seen {
        let headers = req.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let auth = match header("authorization") {
            None => "none",
            Some(v) if v.starts_with("Bearer eyJ") => "oidc",
            Some(v) if v.starts_with("Bearer ") => "token",
            Some(_) => "other",
        };
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        Seen {
            is_publish: method == "POST" && path.ends_with("/packages") && !path.starts_with("/_"),
            query: req.uri().query().unwrap_or_default().to_owned(),
            auth: auth.to_owned(),
            user_agent: header("user-agent").unwrap_or_default().to_owned(),
            content_length: header("content-length").and_then(|v| v.parse().ok()),
            method,
            path,
        }
    }
}

/// How a request is let in: its latency, the fault it meets (scripted, else chaos),
/// and where it stands in the log.
struct Admission {
    latency: u64,
    fault: Option<Fault>,
    arrival: u64,
    in_flight: u32,
    arrived_ms: u64,
}

fn admit(state: &Shared, seen: &Seen) -> Admission {
    let mut s = state.lock().unwrap();
    s.arrivals += 1;
    let arrival = s.arrivals;
    let arrived_ms = s
        .started
        .map_or(0, |t| u64::try_from(t.elapsed().as_millis()).unwrap_or(0));
    let in_flight = if seen.is_publish {
        s.publishes_in_flight += 1;
        s.publishes_in_flight
    } else {
        0
    };
    let jitter = s.cfg().jitter_ms;
    let latency = s.cfg().latency_ms + if jitter > 0 { fastrand::u64(0..=jitter) } else { 0 };
    let fault = pick_fault(&mut s, &seen.method, &seen.path);
    let chaos = if seen.is_publish && fault.is_none() {
        roll_chaos(&mut s)
    } else {
        None
    };
    Admission {
        latency,
        fault: fault.or(chaos),
        arrival,
        in_flight,
        arrived_ms,
    }
}

/// Latency, scripted faults, chaos and the request log.
pub(super) async fn middleware(State(state): State<Shared>, req: Request, next: axum::middleware::Next) -> Response {
    let seen = Seen::of(&req);
    let admitted = admit(&state, &seen);
    if admitted.latency > 0 {
        tokio::time::sleep(Duration::from_millis(admitted.latency)).await;
    }
    // A dropped connection is logged with status 0.
    let log = |status: u16, file: Option<String>| {
        if seen.is_publish {
            state.lock().unwrap().publishes_in_flight -= 1;
        }
        record(
            &state,
            Record {
                method: seen.method.clone(),
                path: seen.path.clone(),
                query: seen.query.clone(),
                status,
                auth: seen.auth.clone(),
                user_agent: seen.user_agent.clone(),
                content_length: seen.content_length,
                file_name: file,
                arrival: admitted.arrival,
                in_flight: admitted.in_flight,
                arrived_ms: admitted.arrived_ms,
            },
        );
    };
    let answer = match admitted.fault {
        Some(f) => with_fault(&f, req, next).await,
        None => Ok(next.run(req).await),
    };
    let mut response = match answer {
        Ok(response) => response,
        Err(why) => {
            log(0, None);
            std::panic::resume_unwind(Box::new(why));
        }
    };
    let file_name = response.extensions_mut().remove::<FileName>().map(|f| f.0);
    log(response.status().as_u16(), file_name);
    response
}

/// A request meeting its fault: the answer, or why the connection is dropped.
async fn with_fault(f: &Fault, req: Request, next: axum::middleware::Next) -> Result<Response, &'static str> {
    if f.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
    }
    if f.think_ms > 0 {
        let answer = next.run(req).await;
        tokio::time::sleep(Duration::from_millis(f.think_ms)).await;
        Ok(trickle(answer, f.trickle_ms))
    } else if f.after_commit {
        let committed = next.run(req).await;
        if f.drop {
            return Err("emulator: dropping the connection after commit");
        }
        drop(committed);
        Ok(fault_response(f))
    } else if f.drop {
        // Read a little of the body so the drop happens mid-upload.
        let mut body = req.into_body().into_data_stream();
        use futures_util::StreamExt;
        let _ = body.next().await;
        Err("emulator: dropping the connection")
    } else if f.status.is_some() {
        // Read the whole request first, as a server does, so the client gets the
        // answer rather than a broken pipe.
        drain(req.into_body()).await;
        Ok(trickle(fault_response(f), f.trickle_ms))
    } else {
        Ok(trickle(next.run(req).await, f.trickle_ms))
    }
}

#[derive(Clone)]
pub(super) struct FileName(pub(super) String);

/// Reads and discards a request body without holding it in memory.
pub(super) async fn drain(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

/// Reads and discards the rest of a multipart body (early refusals).
pub(super) async fn drain_multipart(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

pub(super) fn record(state: &Shared, record: Record) {
    state.lock().unwrap().requests.push(record);
}

pub(super) fn pick_fault(s: &mut EmuState, method: &str, path: &str) -> Option<Fault> {
    let idx = s.faults.iter().position(|f| {
        f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
            && f.path_suffix.as_deref().is_none_or(|p| path.ends_with(p))
            && f.file_contains.is_none()
    })?;
    if s.faults[idx].skip > 0 {
        s.faults[idx].skip -= 1;
        return None;
    }
    let fault = s.faults[idx].clone();
    if fault.times > 0 {
        s.faults[idx].times -= 1;
        if s.faults[idx].times == 0 {
            s.faults.remove(idx);
        }
    }
    Some(fault)
}

pub(super) fn roll_chaos(s: &mut EmuState) -> Option<Fault> {
    let chaos = s.cfg().chaos.clone()?;
    let rng = s.rng.as_mut()?;
    let roll = rng.u32(0..100);
    let mut edge = chaos.p503;
    if roll < edge {
        return Some(Fault {
            status: Some(503),
            body: Some(r#"{"message":"Service Unavailable"}"#.into()),
            ..Fault::default()
        });
    }
    edge += chaos.p429;
    if roll < edge {
        return Some(Fault {
            status: Some(429),
            headers: [
                ("RateLimit-Reset".to_owned(), "1".to_owned()),
                ("RateLimit-Remaining".to_owned(), "0".to_owned()),
            ]
            .into(),
            body: Some(r#"{"message":"Too many requests","scope":"rest","limit":200,"current":201,"reset":1}"#.into()),
            ..Fault::default()
        });
    }
    edge += chaos.pdrop;
    if roll < edge {
        return Some(Fault {
            drop: true,
            ..Fault::default()
        });
    }
    edge += chaos.pcommit_drop;
    if roll < edge {
        return Some(Fault {
            drop: true,
            after_commit: true,
            ..Fault::default()
        });
    }
    edge += chaos.pstall;
    if roll < edge {
        return Some(Fault {
            delay_ms: chaos.stall_ms,
            ..Fault::default()
        });
    }
    None
}

/// Re-sends an answer's body one byte every `every_ms` milliseconds (0: as it is).
pub(super) fn trickle(resp: Response, every_ms: u64) -> Response {
    if every_ms == 0 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), Vec::<u8>::new()),
        move |(mut body, mut buf)| async move {
            use futures_util::StreamExt;
            if buf.is_empty() {
                match body.next().await {
                    Some(Ok(chunk)) => buf = chunk.to_vec(),
                    _ => return None,
                }
            }
            tokio::time::sleep(Duration::from_millis(every_ms)).await;
            let byte = buf.remove(0);
            Some((
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![byte])),
                (body, buf),
            ))
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

pub(super) fn fault_response(f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.status.unwrap_or(500)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::builder().status(status);
    for (k, v) in &f.headers {
        resp = resp.header(k, v);
    }
    if f.body_bytes > 0 {
        let mut left = f.body_bytes;
        let filler = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures_util::stream::poll_fn(move |_| {
            if left == 0 {
                return std::task::Poll::Ready(None);
            }
            let n = left.min(filler.len() as u64);
            left = left.saturating_sub(n);
            std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(filler.slice(..n as usize))))
        });
        return resp.body(Body::from_stream(stream)).unwrap();
    }
    let body = f
        .body
        .clone()
        .unwrap_or_else(|| json!({"message": status.canonical_reason().unwrap_or("error")}).to_string());
    resp.body(Body::from(body)).unwrap()
}
