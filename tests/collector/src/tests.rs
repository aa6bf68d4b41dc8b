//! The collector tested with a raw `TcpStream` client, byte by byte.

use super::*;

const WAIT: Duration = Duration::from_secs(5);

fn connect(c: &Collector) -> TcpStream {
    let s = TcpStream::connect(c.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn post(body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A parsed answer: status, lower-cased headers, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one answer (Content-Length delimited) from `s`, leaving following bytes unread.
fn read_answer(s: &mut TcpStream) -> io::Result<Answer> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    s.read_exact(&mut body)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// True when the server closed the connection (EOF or reset), false on a read timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => panic!("unexpected bytes"),
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn url_is_loopback() {
    let c = Collector::start();
    assert!(c.addr().ip().is_loopback());
    assert_eq!(
        c.url(),
        format!("http://127.0.0.1:{}/v1/records", c.addr().port())
    );
    assert_eq!(
        c.base_url(),
        format!("http://127.0.0.1:{}", c.addr().port())
    );
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let c = Collector::start();
    let mut s = connect(&c);
    for i in 0..5 {
        s.write_all(&post(
            &format!(r#"{{"records":[{{"n":{i}}}]}}"#),
            "X-Api-Key: k\r\n",
        ))
        .unwrap();
        let a = read_answer(&mut s).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(a.header("connection"), None);
        assert_eq!(a.body, br#"{"status":"ok"}"#);
    }
    assert_eq!(c.connections(), 1);
    let reqs = c.requests();
    assert_eq!(reqs.len(), 5);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/records");
    assert_eq!(reqs[0].header("X-API-KEY"), Some("k"));
    assert!(reqs[0].headers.iter().any(|(n, _)| n == "x-api-key"));
    assert_eq!(reqs[0].answered, Some(200));
    assert_eq!(reqs[3].json(), serde_json::json!({"records": [{"n": 3}]}));
    let records = c.records();
    assert_eq!(records.len(), 5);
    assert_eq!(records[4]["n"], 4);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let c = Collector::start();
    let mut s = connect(&c);
    let mut bytes = post(r#"{"records":[1,2]}"#, "");
    bytes.extend(post(r#"{"records":[3]}"#, ""));
    s.write_all(&bytes).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(
        c.records(),
        vec![1.into(), 2.into(), 3.into()] as Vec<Value>
    );
}

#[test]
fn connection_close_is_honoured() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(&post(r#"{"records":[]}"#, "Connection: close\r\n"))
        .unwrap();
    let a = read_answer(&mut s).unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert!(closed_by_server(&mut s));
    let mut s = connect(&c);
    s.write_all(b"GET /y HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /z HTTP/1.0\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    let paths: Vec<String> = c.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/x", "/y", "/z"]);
    assert!(c.requests().iter().all(|r| r.body.is_empty()));
}

#[test]
fn script_is_followed_then_200() {
    let c = Collector::with_script(vec![Reply::Status(503), Reply::Close, Reply::Status(202)]);
    let mut s = connect(&c);
    s.write_all(&post(r#"{"records":["a"]}"#, "")).unwrap();
    let a = read_answer(&mut s).unwrap();
    assert_eq!(a.status, 503);
    assert_eq!(a.body, br#"{"status":"error","code":503}"#);
    // Still open after an error status.
    s.write_all(&post(r#"{"records":["b"]}"#, "")).unwrap();
    assert!(closed_by_server(&mut s), "Close answers nothing");
    let mut s = connect(&c);
    s.write_all(&post(r#"{"records":["c"]}"#, "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 202);
    s.write_all(&post(r#"{"records":["d"]}"#, "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    let answered: Vec<Option<u16>> = c.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, [Some(503), None, Some(202), Some(200)]);
    assert_eq!(c.records(), vec![Value::from("c"), Value::from("d")]);
    assert_eq!(c.connections(), 2);
}

#[test]
fn push_replies_extends_the_script() {
    let c = Collector::start();
    c.push_replies([Reply::Status(429)]);
    let mut s = connect(&c);
    s.write_all(&post("{}", "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 429);
    s.write_all(&post("{}", "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
}

#[test]
fn stall_holds_one_connection_and_serves_others() {
    let c = Collector::with_script(vec![Reply::Stall]);
    let mut stalled = connect(&c);
    stalled
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stalled.write_all(&post(r#"{"records":[1]}"#, "")).unwrap();
    assert!(c.wait_for_requests(1, WAIT));
    assert!(!closed_by_server(&mut stalled), "no answer, still open");
    let mut other = connect(&c);
    other.write_all(&post(r#"{"records":[2]}"#, "")).unwrap();
    assert_eq!(read_answer(&mut other).unwrap().status, 200);
    assert_eq!(c.records(), vec![Value::from(2)]);
    assert_eq!(c.requests()[0].answered, None);
    stalled.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    drop(c);
    assert!(started.elapsed() < WAIT);
    assert!(
        closed_by_server(&mut stalled),
        "dropping the collector closes it"
    );
}

#[test]
fn stalling_never_answers() {
    let c = Collector::stalling();
    let mut streams: Vec<TcpStream> = (0..3).map(|_| connect(&c)).collect();
    for s in &mut streams {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.write_all(&post(r#"{"records":[1]}"#, "")).unwrap();
    }
    assert!(c.wait_for_requests(3, WAIT));
    for s in &mut streams {
        assert!(!closed_by_server(s));
    }
    assert_eq!(c.connections(), 3);
    assert!(c.records().is_empty());
}

#[test]
fn chunked_bodies_are_decoded() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(
        b"POST /v1/records HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\n{\"rec\r\nd\r\nords\":[true]}\r\n0\r\nX-Trailer: 1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(c.requests()[0].body, br#"{"records":[true]}"#);
    assert_eq!(c.records(), vec![Value::Bool(true)]);
}

#[test]
fn expect_continue_is_answered() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(b"POST /v1/records HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let interim = read_answer(&mut s).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"{}").unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(c.requests()[0].body, b"{}");
}

#[test]
fn body_split_across_writes_is_read_whole() {
    let c = Collector::start();
    let mut s = connect(&c);
    let bytes = post(r#"{"records":["slow"]}"#, "");
    for piece in bytes.chunks(7) {
        s.write_all(piece).unwrap();
        s.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(c.records(), vec![Value::from("slow")]);
}

#[test]
fn malformed_requests_get_400_and_are_not_recorded() {
    let c = Collector::start();
    for bad in [
        &b"NONSENSE\r\n\r\n"[..],
        b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"POST /x SPDY/3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut s = connect(&c);
        s.write_all(bad).unwrap();
        let a = read_answer(&mut s).unwrap();
        assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(a.header("connection"), Some("close"));
        assert!(closed_by_server(&mut s));
    }
    assert!(c.requests().is_empty());
}

#[test]
fn oversized_head_gets_431() {
    let c = Collector::start();
    let mut s = connect(&c);
    let mut bytes = b"POST /x HTTP/1.1\r\nX-Big: ".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 10));
    // The server may close before reading everything; the answer is what matters.
    let _ = s.write_all(&bytes);
    assert_eq!(read_answer(&mut s).unwrap().status, 431);
}

#[test]
fn client_closing_midway_is_not_a_request() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    drop(s);
    let mut s = connect(&c);
    s.write_all(&post("{}", "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    assert_eq!(c.requests().len(), 1);
    assert_eq!(c.connections(), 2);
}

#[test]
fn wait_for_requests_and_records() {
    let c = Collector::start();
    assert!(!c.wait_for_requests(1, Duration::from_millis(50)));
    assert!(c.wait_for_requests(0, Duration::ZERO));
    let addr = c.addr();
    let client = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&post(r#"{"records":[1,2,3]}"#, "")).unwrap();
        read_answer(&mut s).unwrap().status
    });
    assert!(c.wait_for_requests(1, WAIT));
    assert!(c.wait_for_records(3, WAIT));
    assert!(!c.wait_for_records(4, Duration::from_millis(20)));
    assert_eq!(client.join().unwrap(), 200);
}

#[test]
fn records_ignore_non_json_and_bodies_without_records() {
    let c = Collector::start();
    let mut s = connect(&c);
    for body in [
        "not json",
        r#"{"other":[1]}"#,
        r#"{"records":"x"}"#,
        r#"[1]"#,
    ] {
        s.write_all(&post(body, "")).unwrap();
        assert_eq!(read_answer(&mut s).unwrap().status, 200);
    }
    assert!(c.records().is_empty());
    assert!(c.requests()[0].try_json().is_err());
}

#[test]
fn drop_with_idle_keep_alive_connection_is_prompt() {
    let c = Collector::start();
    let mut s = connect(&c);
    s.write_all(&post("{}", "")).unwrap();
    assert_eq!(read_answer(&mut s).unwrap().status, 200);
    let started = Instant::now();
    drop(c);
    assert!(started.elapsed() < WAIT);
    assert!(closed_by_server(&mut s));
}

#[test]
fn dead_endpoint_refuses() {
    let url = dead_endpoint();
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let port: u16 = rest.strip_suffix("/v1/records").unwrap().parse().unwrap();
    let err = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn a_delay_holds_each_answer_and_the_request_is_recorded_first() {
    let c = Collector::start();
    c.set_delay(Duration::from_millis(300));
    let mut s = connect(&c);
    let start = Instant::now();
    s.write_all(&post("{}", "")).unwrap();
    assert!(c.wait_for_requests(1, WAIT));
    // Recorded, not yet answered: a short read finds nothing.
    if start.elapsed() < Duration::from_millis(200) {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert!(s.read(&mut [0u8; 1]).is_err());
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    let answer = read_answer(&mut s).unwrap();
    assert_eq!(answer.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn retry_after_replies_carry_seconds_or_an_http_date() {
    let at = UNIX_EPOCH + Duration::from_secs(1_835_481_599);
    let c = Collector::with_script(vec![
        Reply::RetryAfterSecs(503, 7),
        Reply::RetryAfterDate(429, at),
    ]);
    let mut s = connect(&c);
    s.write_all(&post("{}", "")).unwrap();
    let first = read_answer(&mut s).unwrap();
    assert_eq!(
        (first.status, first.header("retry-after")),
        (503, Some("7"))
    );
    s.write_all(&post("{}", "")).unwrap();
    let second = read_answer(&mut s).unwrap();
    assert_eq!(second.status, 429);
    assert_eq!(
        second.header("retry-after"),
        Some("Tue, 29 Feb 2028 23:59:59 GMT")
    );
}

#[test]
fn a_trickled_answer_sends_its_body_one_byte_at_a_time() {
    let c = Collector::with_script(vec![Reply::Trickle(200)]);
    let mut s = connect(&c);
    s.write_all(&post("{}", "")).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.contains(&format!("Content-Length: {TRICKLE_BYTES}")),
        "{head}"
    );
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
    }
    assert!(
        start.elapsed() >= TRICKLE_INTERVAL * 2,
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.requests()[0].answered, Some(200));
}
