#!/usr/bin/env python3
"""A starting point for the course: a node that speaks the protocol and nothing more.

It reads one JSON message per line on stdin and writes one per line on stdout (logs go
to stderr: a stray print() on stdout breaks the protocol). It answers init, numbers
every message it sends from 0, and answers every other request with error 10 (not
supported). Your work starts in HANDLERS: add read, write and cas, then replicate.
"""
import json
import sys

NOT_SUPPORTED = 10
MALFORMED_REQUEST = 12


class Node:
    def __init__(self):
        self.node_id = None
        self.node_ids = []
        self.next_msg_id = 0  # every message this node sends takes the next one

    def send(self, dest, body):
        body["msg_id"] = self.next_msg_id
        self.next_msg_id += 1
        print(json.dumps({"src": self.node_id, "dest": dest, "body": body}), flush=True)

    def reply(self, request, body):
        body["in_reply_to"] = request["body"]["msg_id"]
        self.send(request["src"], body)

    def error(self, request, code, text):
        self.reply(request, {"type": "error", "code": code, "text": text})

    def on_init(self, request):
        body = request["body"]
        if not isinstance(body.get("node_id"), str) or not isinstance(body.get("node_ids"), list):
            return self.error(request, MALFORMED_REQUEST, "init needs node_id and node_ids")
        self.node_id = body["node_id"]
        self.node_ids = body["node_ids"]
        self.reply(request, {"type": "init_ok"})

    HANDLERS = {"init": on_init}

    def handle(self, line):
        try:
            request = json.loads(line)
            body = request["body"]
            kind = body.get("type")
        except (ValueError, KeyError, TypeError, AttributeError):
            print(f"skipped a line that is not a message: {line[:200]!r}", file=sys.stderr)
            return
        if "msg_id" not in body:
            return  # nothing to reply to (a reply to us, or a one-way message)
        if not isinstance(kind, str):
            return self.error(request, MALFORMED_REQUEST, "missing field: type")
        handler = self.HANDLERS.get(kind)
        if handler is None:
            return self.error(request, NOT_SUPPORTED, f"type {kind} is not supported")
        handler(self, request)


def main():
    node = Node()
    for line in sys.stdin:
        if line.strip():
            node.handle(line)


if __name__ == "__main__":
    main()
