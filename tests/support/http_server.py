"""A local HTTP server for the download tests, serving files from a directory with faults:

  /good/NAME   the file
  /cut/NAME    promises the whole file, sends half, then closes the connection
  /wrong/NAME  the right length of the wrong bytes
  /slow/NAME   sends a few bytes, then stalls
  /endless/NAME  no Content-Length, and zeros until the client hangs up
  /huge/NAME   announces a terabyte, sends the file, then stalls
  anything else: 404

Binds 127.0.0.1 on a free port, prints the port on the first line, and exits after
--lifetime seconds so a failed test can never leave it running.
"""
import http.server
import os
import sys
import threading
import time


def main():
    root = sys.argv[1]
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 120

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = self.path.strip("/").split("/", 1)
            if len(parts) != 2 or not os.path.isfile(os.path.join(root, parts[1])):
                self.send_error(404)
                return
            mode, name = parts
            with open(os.path.join(root, name), "rb") as f:
                body = f.read()
            if mode not in ("good", "cut", "wrong", "slow", "endless", "huge"):
                self.send_error(404)
                return
            self.send_response(200)
            if mode == "huge":
                self.send_header("Content-Length", str(1 << 40))
            elif mode != "endless":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "good":
                self.wfile.write(body)
            elif mode == "cut":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif mode == "wrong":
                self.wfile.write(bytes((b ^ 0x5A) for b in body))
            elif mode == "endless":
                # HTTP/1.0 without a length: the body ends only when the connection does.
                zeros = bytes(1 << 16)
                try:
                    while True:
                        self.wfile.write(zeros)
                except OSError:
                    self.close_connection = True
            elif mode == "huge":
                self.wfile.write(body)
                self.wfile.flush()
                time.sleep(lifetime)
            else:
                self.wfile.write(body[:4])
                self.wfile.flush()
                time.sleep(lifetime)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # Tell the test the port, then detach from the pipe: the test closes its end after reading,
    # and a later write to it (at exit) must not kill the server.
    try:
        print(server.server_address[1], flush=True)
    except BrokenPipeError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    threading.Timer(lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
