#!/usr/bin/python3
"""A reference reward service for evosearch: a bundle's RewardSpec "service": "unix:PATH".

The protocol (models/BUNDLE.md, "Reward services"; messages in proto/reward_service.proto): a
Unix stream socket; each message is a frame, a 4-byte little-endian length then a serialized
ScoreRequest (client) or ScoreReply (server); one reply per request, in order, on a connection
that stays open for the next batch. Needs Debian's python3-protobuf and protoc (protobuf-compiler,
to compile the .proto at start); nothing else.

Its reward is the one of tests/text_reward_bundle.h: the mean pixel of each sample, plus --bonus
when the sample's prompt contains --word. A real reward (a VLM judge, VideoReward) replaces
score(); the framing stays. --crash-after and --fail-on are for tests.

  /usr/bin/python3 models/reward_server.py --socket /run/rewards/judge.sock

The socket file appears once the server is listening (it binds a temporary name, then renames
it), so a script can wait for it. For tests: --crash-after N makes it exit without replying to
request N+1 (a service that dies mid-job); --fail-on WORD answers a batch with a prompt containing
WORD with an error (a reward that fails on one prompt).
"""
import argparse
import array
import importlib
import math
import os
import shutil
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")


def load_messages(proto_dir):
    """reward_service_pb2, compiled from the repository's .proto (so the two never drift)."""
    out = tempfile.mkdtemp(prefix="reward-server-")
    try:
        subprocess.run(["protoc", "--proto_path=" + proto_dir, "--python_out=" + out, "reward_service.proto"],
                       check=True)
        sys.path.insert(0, out)
        return importlib.import_module("reward_service_pb2")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def f32(x):
    """x rounded to float32, as the in-process reward's arithmetic rounds."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def score(pixels, shape, prompts, word, bonus):
    """One score per sample: its mean pixel (exact sum, rounded to float32) plus the word bonus."""
    per_sample = len(pixels) // shape[0]
    scores = []
    for i in range(shape[0]):
        mean = f32(math.fsum(pixels[i * per_sample:(i + 1) * per_sample]) / per_sample)
        scores.append(f32(mean + (bonus if word in prompts[i] else 0.0)))
    return scores


def check_request(request, reward_name, fail_on):
    shape = list(request.pixel_shape)
    if reward_name and request.reward != reward_name:
        return "this service scores '%s', not '%s'" % (reward_name, request.reward)
    for prompt in request.prompts:
        if fail_on and fail_on in prompt:
            return "cannot score prompt '%s' (--fail-on %s)" % (prompt, fail_on)
    if len(shape) < 2 or any(d <= 0 for d in shape):
        return "pixel_shape %s: expected [B, C, H, W] or [B, C, F, H, W]" % shape
    if len(request.pixels) != 4 * math.prod(shape):
        return "%d pixel bytes for pixel_shape %s (expected float32, 4 bytes each)" % (len(request.pixels), shape)
    if len(request.prompts) != shape[0]:
        return "%d prompts for a batch of %d" % (len(request.prompts), shape[0])
    return ""


def read_exact(stream, size):
    data = stream.read(size)
    return data if len(data) == size else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on")
    parser.add_argument("--reward", default="", help="answer only requests for this reward name")
    parser.add_argument("--word", default="bright", help="a prompt containing it earns --bonus")
    parser.add_argument("--bonus", type=float, default=10.0)
    parser.add_argument("--crash-after", type=int, default=-1, help="exit without replying to request N+1")
    parser.add_argument("--fail-on", default="", help="reply with an error to a batch with a prompt containing it")
    parser.add_argument("--proto-dir", default=PROTO_DIR, help="the folder of reward_service.proto")
    args = parser.parse_args()
    pb = load_messages(args.proto_dir)
    answered = [0]
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                header = read_exact(self.rfile, 4)
                if header is None:
                    return  # the client closed the connection
                body = read_exact(self.rfile, struct.unpack("<I", header)[0])
                if body is None:
                    return
                with lock:
                    if answered[0] == args.crash_after:
                        os._exit(3)  # as a crash would: no reply, the socket file left behind
                    answered[0] += 1
                request = pb.ScoreRequest()
                reply = pb.ScoreReply()
                try:
                    request.ParseFromString(body)
                    reply.error = check_request(request, args.reward, args.fail_on)
                    if not reply.error:
                        pixels = array.array("f")
                        pixels.frombytes(request.pixels)
                        if sys.byteorder != "little":
                            pixels.byteswap()
                        reply.scores.extend(score(pixels, list(request.pixel_shape), request.prompts, args.word,
                                                  args.bonus))
                except Exception as e:  # the client gets the reason instead of a closed connection
                    del reply.scores[:]
                    reply.error = "%s: %s" % (type(e).__name__, e)
                data = reply.SerializeToString()
                self.wfile.write(struct.pack("<I", len(data)) + data)
                self.wfile.flush()

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    staging = args.socket + ".tmp"
    for path in (staging, args.socket):
        if os.path.exists(path):
            os.unlink(path)  # a crashed server's socket
    with Server(staging, Handler) as server:
        os.rename(staging, args.socket)  # listening now: the socket's name appears
        print("reward server: listening on unix:%s" % args.socket, flush=True)
        try:
            server.serve_forever()
        finally:
            os.unlink(args.socket)


if __name__ == "__main__":
    main()
