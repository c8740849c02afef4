#!/usr/bin/python3
"""upload_store: a small web-upload store on cairn, one app-server process.

    upload_store.py [--meta HOST:PORT] [--listen HOST:PORT] [--root /uploads]

    POST /upload          body: the file. 201 {"id", "size", "url", "new"}
    GET  /files/ID        the file back (HEAD: its headers)
    GET  /healthz         "ok" once the metaserver answers

Uploads are stored under their SHA-256 (the id), as ROOT/ab/cd/abcd...:
the same content uploaded twice, to any process, is one file. Run as many
processes as you like (on different ports, on one host or many) against
the same cluster; they share nothing but cairn. An upload streams into a
temporary file ROOT/.incoming/<random> while it is hashed, and is renamed
to its id only once complete and closed (cairn's rename is atomic and
close-to-open consistent), so a reader never sees a partial file and two
processes storing the same content at once both succeed.
"""
import argparse
import hashlib
import http.server
import json
import os
import posixpath
import re
import signal
import socketserver
import sys
import threading

try:
    import cairn
except ImportError:  # not installed: the source tree this example lives in
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cairn

PIECE = 1 << 20
ID = re.compile(r"^[0-9a-f]{64}$")


class Store:
    """Content-addressed files under one cairn directory."""

    def __init__(self, fs, root):
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.incoming = posixpath.join(self.root, ".incoming")
        fs.mkdir(self.incoming, parents=True, exist_ok=True)

    def path(self, digest):
        return posixpath.join(self.root, digest[:2], digest[2:4], digest)

    def save(self, stream, length):
        """Stores length bytes from stream; returns (id, new)."""
        tmp = posixpath.join(self.incoming, os.urandom(12).hex())
        h = hashlib.sha256()
        buf = bytearray(PIECE)
        left = length
        try:
            with self.fs.open(tmp, "wb", buffering=0) as f, memoryview(buf) as view:
                while left:
                    n = stream.readinto(view[:min(left, PIECE)])
                    if not n:
                        raise ConnectionError("upload ended %d bytes early" % left)
                    h.update(view[:n])
                    f.write(view[:n])
                    left -= n
            digest = h.hexdigest()
            final = self.path(digest)
            if self.fs.exists(final):
                self.fs.rm(tmp)
                return digest, False
            self.fs.mkdir(posixpath.dirname(final), parents=True, exist_ok=True)
            self.fs.mv(tmp, final)
            return digest, True
        except BaseException:
            try:
                self.fs.rm(tmp)
            except OSError:
                pass
            raise

    def open(self, digest):
        """The stored file (a raw cairn file) and its size; FileNotFoundError if absent."""
        f = self.fs.open(self.path(digest), "rb", buffering=0)
        return f, f.seek(0, os.SEEK_END)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cairn-upload-store/0.1"

    def reply(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_POST(self):
        if self.path != "/upload":
            return self.reply(404, {"error": "no such endpoint"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.reply(411, {"error": "Content-Length required"})
        if length < 0 or length > self.server.max_size:
            self.close_connection = True
            return self.reply(413, {"error": "at most %d bytes" % self.server.max_size})
        try:
            digest, new = self.server.store.save(self.rfile, length)
        except ConnectionError as e:
            self.close_connection = True
            return self.reply(400, {"error": str(e)})
        except OSError as e:
            return self.reply(503, {"error": "storage: %s" % e})
        self.reply(201, {"id": digest, "size": length, "url": "/files/" + digest, "new": new})

    def do_GET(self):
        if self.path == "/healthz":
            try:
                self.server.store.fs.ping()
            except OSError as e:
                return self.reply(503, {"error": str(e)})
            return self.reply(200, b"ok\n", "text/plain")
        digest = self.path[len("/files/"):] if self.path.startswith("/files/") else ""
        if not ID.match(digest):
            return self.reply(404, {"error": "no such file"})
        try:
            f, size = self.server.store.open(digest)
        except FileNotFoundError:
            return self.reply(404, {"error": "no such file"})
        except OSError as e:
            return self.reply(503, {"error": "storage: %s" % e})
        with f:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("ETag", '"%s"' % digest)
            self.end_headers()
            if self.command == "HEAD":
                return
            f.seek(0)
            buf = bytearray(PIECE)
            with memoryview(buf) as view:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    self.wfile.write(view[:n])

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta", default=None, help="metaserver (default $CAIRN_META)")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to serve on")
    ap.add_argument("--root", default="/uploads", help="cairn directory of the store")
    ap.add_argument("--max-size", type=int, default=1 << 30, help="largest upload, bytes")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per cairn call")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    fs = cairn.connect(args.meta, timeout=args.timeout)
    server = Server((host, int(port)), Handler)
    server.store = Store(fs, args.root)
    server.max_size = args.max_size
    server.verbose = args.verbose
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("upload_store: serving %s on http://%s/ (metaserver %s)" % (args.root, args.listen,
                                                                     fs.addr), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    fs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
