#!/usr/bin/env python3
"""Test server for tests/unit/test_fetch.c: stdlib only, 127.0.0.1 only.

Serves one generated image (deterministic, IMAGE_SIZE bytes) in several
ways, chosen by path:

  /img        the image; honours "Range: bytes=N-" with 206 (416 past the end)
  /cut        without Range: announces the whole image, sends half, closes;
              with Range: like /img, so a resume completes
  /norange    the image with 200, whatever Range says
  /bad        as many bytes as the image, one of them wrong
  /404        404
  /stall      headers and a few bytes, then nothing for a minute
  /slow       the image in small pieces over about 0.6 s
  /redirect   302 to /img
  /to-http    302 to http://127.0.0.1:PLAINPORT/img (a downgrade when asked on TLS)
  /to-file    302 to file:///etc/hostname
  /loop       302 to /loop
  /huge       announces a Content-Length of 10^15 bytes (HUGE), sends a little
              of the image, closes
  /chunked    HTTP/1.1 with "Transfer-Encoding: chunked" and no length: the
              image over and over in 64 KiB chunks, CHUNKED_TOTAL (64 MiB) in
              all, so it grows past any small cap
  /stats      "requests N" (all but /stats) and one "PATH RANGE" line per
              request, RANGE being "-" without a Range header

With --watch-stdin it exits when its stdin reaches end of file, so that it
never outlives a test that crashed (the test holds the pipe's other end).

With --tls DIR it also serves HTTPS on a second port with a self-signed
certificate for 127.0.0.1 written to DIR/cert.pem (made with the openssl
command; no TLS port when that is missing).

Prints one line, "PORT TLSPORT SHA256 SIZE" (TLSPORT 0 without TLS), then
serves until killed.
"""
import argparse
import hashlib
import http.server
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

IMAGE_SIZE = 4 << 20
IMAGE = random.Random(20240501).randbytes(IMAGE_SIZE)
BAD = IMAGE[:1000] + bytes([IMAGE[1000] ^ 0xFF]) + IMAGE[1001:]

HUGE = 10 ** 15
CHUNKED_TOTAL = 64 << 20

PLAIN_PORT = 0
LOCK = threading.Lock()
LOG = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def _range_start(self):
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        return int(m.group(1)) if m else None

    def _send_body(self, body, start, code=200):
        if start is not None and start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start is not None:
            self.send_response(206)
            self.send_header("Content-Range",
                             f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(code)
            start = 0
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def do_GET(self):
        path = self.path.split("?")[0]
        if path != "/stats":
            with LOCK:
                LOG.append(f"{path} {self.headers.get('Range', '-')}")
        start = self._range_start()
        if path == "/stats":
            with LOCK:
                text = f"requests {len(LOG)}\n" + "".join(l + "\n" for l in LOG)
            self._send_body(text.encode(), None)
        elif path == "/img":
            self._send_body(IMAGE, start)
        elif path == "/cut":
            if start is not None:
                self._send_body(IMAGE, start)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE[:len(IMAGE) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/norange":
            self._send_body(IMAGE, None)
        elif path == "/bad":
            self._send_body(BAD, start)
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE[:100])
            self.wfile.flush()
            time.sleep(60)
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            step = len(IMAGE) // 20
            for off in range(0, len(IMAGE), step):
                self.wfile.write(IMAGE[off:off + step])
                self.wfile.flush()
                time.sleep(0.03)
        elif path == "/huge":
            # a server that would fill the disk: the client must refuse it
            # from the header alone
            self.send_response(200)
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            self.wfile.write(IMAGE[:65536])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/chunked":
            # no length at all: only the bytes as they arrive can be capped
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            step = 65536
            for off in range(0, CHUNKED_TOTAL, step):
                chunk = IMAGE[off % len(IMAGE):off % len(IMAGE) + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        elif path in ("/to-http", "/to-file"):
            # a downgrade from https to http, or a redirect to a local file
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%d/img" % PLAIN_PORT
                             if path == "/to-http" else "file:///etc/hostname")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path in ("/redirect", "/loop"):
            self.send_response(302)
            self.send_header("Location", "/img" if path == "/redirect" else "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients hang up on purpose here (a refused range, a stall timeout)
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def make_cert(d):
    if not shutil.which("openssl"):
        return None
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", metavar="DIR")
    ap.add_argument("--watch-stdin", action="store_true")
    args = ap.parse_args()
    if args.watch_stdin:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()

    global PLAIN_PORT
    servers = [Server(("127.0.0.1", 0), Handler)]
    PLAIN_PORT = servers[0].server_address[1]
    if args.tls:
        pair = make_cert(args.tls)
        if pair:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*pair)
            s = Server(("127.0.0.1", 0), Handler)
            s.socket = ctx.wrap_socket(s.socket, server_side=True)
            servers.append(s)
    tls_port = servers[1].server_address[1] if len(servers) > 1 else 0
    print(servers[0].server_address[1], tls_port, hashlib.sha256(IMAGE).hexdigest(),
          IMAGE_SIZE, flush=True)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    sys.exit(main())
