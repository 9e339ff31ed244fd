// A hostile origin for the e2e suite (tests/e2e/hostile.test.mjs), on raw TCP (node:net) so it can
// send what an HTTP library refuses to: malformed status lines, bodies on 204/205/304, broken
// framing, huge or non-ASCII headers, resets and stalls. It runs inside the test process, so the
// test reads its counters directly. Listens on 127.0.0.1 only; `close()` ends every socket.
//
// Paths:
//   /lab/good/<anything>       a well-formed 200, `Cache-Control: max-age=300`, body GOOD_BODY
//                              (the worker caches it: the concurrent hits of every case read it)
//   /lab/hostile/<case>/<id>   the behaviour CASES[<case>] (unknown case: 404)
import { createServer } from "node:net";

/** The good path's body: 16 KB of known text, so a hit can be checked byte for byte. */
export const GOOD_BODY = Array.from({ length: 512 }, (_, i) => `good line ${String(i).padStart(5, "0")} ...........\n`).join("");

/** The body the well-formed parts of hostile answers carry. */
export const OK_TEXT = "hostile origin: the body\n";

const crlf = (lines) => lines.map((l) => `${l}\r\n`).join("");
const head = (statusLine, headers = []) => Buffer.from(crlf([statusLine, ...headers, ""]), "latin1");
const bodyHeaders = (body, more = []) => [`Content-Length: ${Buffer.byteLength(body)}`, "Content-Type: text/plain", "Connection: close", ...more];

/** Writes `buf` and closes the write side; the socket is destroyed once the peer closes too. */
function sendAndClose(sock, ...bufs) {
  for (const b of bufs) sock.write(b);
  sock.end();
}

/** A complete answer: status line, headers (raw lines), body. */
function answer(statusLine, headers, body = OK_TEXT) {
  return (sock) => sendAndClose(sock, head(statusLine, bodyHeaders(body, headers)), Buffer.from(body, "latin1"));
}

const many = (n, f) => Array.from({ length: n }, (_, i) => f(i));

/**
 * Each case: `send(sock, req)` writes the answer. The test file holds what a client must get
 * for each one (see the README, "What a client gets for each kind of bad origin answer").
 */
export const CASES = {
  // --- status lines
  "status-0": answer("HTTP/1.1 0 Zero", []),
  "status-99": answer("HTTP/1.1 99 Too Low", []),
  "status-600": answer("HTTP/1.1 600 Too High", []),
  "status-999": answer("HTTP/1.1 999 Way Too High", []),
  // A 1xx as the final answer: the connection closes after it.
  "status-1xx-final": (sock) => sendAndClose(sock, head("HTTP/1.1 150 Odd Interim", ["Connection: close"])),
  // 103 Early Hints, then the real 200 (RFC 9110 §15.2: interim responses precede the final one).
  "interim-103": (sock) =>
    sendAndClose(
      sock,
      head("HTTP/1.1 103 Early Hints", ["Link: </style.css>; rel=preload; as=style"]),
      head("HTTP/1.1 200 OK", bodyHeaders(OK_TEXT, ["Cache-Control: max-age=300"])),
      Buffer.from(OK_TEXT),
    ),
  "no-reason": answer("HTTP/1.1 200", ["Cache-Control: max-age=300"]),
  // HTTP/1.0, body delimited by the close (no Content-Length).
  "http10": (sock) => sendAndClose(sock, head("HTTP/1.0 200 OK", ["Content-Type: text/plain", "Cache-Control: max-age=300"]), Buffer.from(OK_TEXT)),
  // --- bodies on responses that cannot have one (RFC 9110 §15.3.5, §15.3.6, §15.4.5)
  "204-body": answer("HTTP/1.1 204 No Content", ["Cache-Control: max-age=300"], "a body a 204 must not have\n"),
  "205-body": answer("HTTP/1.1 205 Reset Content", ["Cache-Control: max-age=300"], "a body a 205 must not have\n"),
  "304-body": answer("HTTP/1.1 304 Not Modified", ["Cache-Control: max-age=300", 'ETag: "x"'], "a body a 304 must not have\n"),
  // --- framing (RFC 9112 §6)
  "cl-short": (sock) => sendAndClose(sock, head("HTTP/1.1 200 OK", ["Content-Length: 100000", "Cache-Control: max-age=300", "Connection: close"]), Buffer.from(OK_TEXT)),
  "bad-chunked": (sock) =>
    sendAndClose(sock, head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked", "Cache-Control: max-age=300", "Connection: close"]), Buffer.from("5\r\nhello\r\nzz-not-hex\r\nxx\r\n0\r\n\r\n")),
  "cl-and-te": (sock) =>
    sendAndClose(
      sock,
      head("HTTP/1.1 200 OK", ["Content-Length: 3", "Transfer-Encoding: chunked", "Cache-Control: max-age=300", "Connection: close"]),
      Buffer.from(`${Buffer.byteLength(OK_TEXT).toString(16)}\r\n${OK_TEXT}\r\n0\r\n\r\n`),
    ),
  // --- headers
  "many-headers": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", ...many(300, (i) => `X-Many-${i}: value ${i}`)]),
  "long-header-16k": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", `X-Long: ${"a".repeat(16 * 1024)}`]),
  "long-header-64k": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", `X-Long: ${"b".repeat(64 * 1024)}`]),
  "obs-text": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", "X-Latin: caf\xe9 cr\xe8me", "X-Ctl: a\x01b\x7fc", "Cache-Tag: t\xe9g, ok-tag"]),
  "garbage-cc": answer("HTTP/1.1 200 OK", ['Cache-Control: max-age=-5, max-age="abc", s-maxage=99999999999999999999999999, no-cache="unterminated, private=,,,;;=', "Age: -1", "Date: yesterday at noon"]),
  "garbage-age-date": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", "Age: 99999999999999999999999999999", "Date: Sun, 99 Nov 1994 08:49:37 GMT", "Expires: 0", "Last-Modified: \xff\xfe"]),
  "garbage-vary": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", "Vary: ,,, \xe9, accept-encoding,,*x, (nope)", ...many(40, (i) => `Vary: x-v-${i}`)]),
  // Far more tags than are kept (64 of at most 128 bytes), in a header block of ~28 KB.
  "huge-tags": answer("HTTP/1.1 200 OK", ["Cache-Control: max-age=300", `Cache-Tag: ${many(1500, (i) => `tag-${i}`).join(",")}`, `Surrogate-Key: ${many(60, (i) => `sk-${"k".repeat(200)}-${i}`).join(" ")}`]),
  // --- resets
  "reset-headers": (sock) => {
    sock.write("HTTP/1.1 200 OK\r\nContent-Type: text/pl");
    setTimeout(() => sock.resetAndDestroy(), 50);
  },
  "reset-body": (sock) => {
    sock.write(head("HTTP/1.1 200 OK", ["Content-Length: 100000", "Cache-Control: max-age=300"]));
    sock.write("the first part of the body");
    setTimeout(() => sock.resetAndDestroy(), 50);
  },
  // --- stalls (the socket is kept until the test ends or the worker gives up)
  "stall": () => {},
  "stall-body": (sock) => {
    sock.write(head("HTTP/1.1 200 OK", ["Content-Length: 100000", "Cache-Control: max-age=300"]));
    sock.write("the first part of the body, then nothing");
  },
};

const GOOD = (sock) =>
  sendAndClose(sock, head("HTTP/1.1 200 OK", bodyHeaders(GOOD_BODY, ["Cache-Control: max-age=300", "Cache-Tag: good"])), Buffer.from(GOOD_BODY));

/**
 * Starts the hostile origin on 127.0.0.1; resolves to `{ url, counts, requests, close }`.
 * `counts.get(path)` is how many requests for that path (without query) arrived.
 */
export async function startHostileOrigin() {
  const sockets = new Set();
  const counts = new Map();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > 256 * 1024) sock.destroy();
        return;
      }
      sock.off("data", onData);
      // Read (and drop) anything else the client sends, so it never blocks on a full window.
      sock.on("data", () => {});
      const line = buf.subarray(0, buf.indexOf("\r\n")).toString("latin1");
      const target = line.split(" ")[1] ?? "/";
      const path = target.split("?")[0];
      counts.set(path, (counts.get(path) ?? 0) + 1);
      const m = /^\/lab\/hostile\/([^/]+)\//.exec(path);
      if (path.startsWith("/lab/good/")) GOOD(sock);
      else if (m && CASES[m[1]]) CASES[m[1]](sock, { path, line });
      else answer("HTTP/1.1 404 Not Found", ["Cache-Control: no-store"], "no such case\n")(sock);
    };
    sock.on("data", onData);
  });
  await new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(0, "127.0.0.1", res);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    /** Open connections now (stalled cases hold theirs until the worker gives up). */
    open: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}
