#!/usr/bin/env python3
"""A stand-in Files registry whose upload endpoint parses the multipart body with a
real, independent form parser: `multipart` from PyPI (the parser of Bottle and other
WSGI frameworks), installed by the test command. It answers the registry read, and for
each upload records the file name *as the parser read it*, one JSON line per upload in
the file named by its first argument, and answers 201 with the sha256 of the bytes the
parser extracted. Prints `listening on http://127.0.0.1:PORT` once ready.
"""

import hashlib
import http.server
import json
import sys

import multipart

LOG = sys.argv[1]
BASE = "/v2/packages/organizations/acme/registries/files"


class Registry(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == BASE:
            self.answer(200, {"id": "r1", "name": "files", "ecosystem": "files"})
        else:
            self.answer(404, {"message": "Not Found"})

    def do_POST(self):
        if self.path != BASE + "/packages":
            return self.answer(404, {"message": "Not Found"})
        _, options = multipart.parse_options_header(self.headers["Content-Type"])
        length = int(self.headers["Content-Length"])
        parser = multipart.MultipartParser(self.rfile, options["boundary"], length, charset="utf-8")
        part = parser.get("file")
        if part is None:
            return self.answer(422, {"message": "Missing file"})
        content = part.raw
        digest = hashlib.sha256(content).hexdigest()
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"filename": part.filename, "size": len(content)}) + "\n")
        self.answer(
            201,
            {
                "id": "p-" + digest[:12],
                "name": part.filename,
                "version": "1.0.0",
                "digests": {"sha256": digest},
            },
        )


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
