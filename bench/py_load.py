"""A small Python load generator, for gRPC (which wrk does not speak) and, to compare like with
like, for HTTP/1.1: `processes` processes, each an asyncio loop keeping its share of
`concurrency` requests in flight for `duration` seconds, every request sent ready-made.

Run as `python -m bench.py_load TOOL TARGET MODEL CASE_ID BODY CONCURRENCY DURATION PROCESSES`;
prints {"requests", "errors", "seconds", "cpu_s", "latencies_ms"} as JSON. The harness calls py_load().
"""

import asyncio
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

from .cases import CASES, INPUT_NAME, Payload
from .wrk import WrkResult

GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_PREFIX_BYTES = 5  # a gRPC message on the wire: compressed flag, 4-byte length, the message


def grpc_request(model: str, case_id: str) -> bytes:
    """The case's batch as a ModelInferRequest with raw_input_contents, serialized once."""
    from service.grpc_api import grpc_predict_v2_pb2 as pb

    case = next(c for c in CASES if c.id == case_id)
    array = case.inputs()
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name=INPUT_NAME, datatype="FP32", shape=list(array.shape))
    request.raw_input_contents.append(array.astype("<f4").tobytes())
    return request.SerializeToString()


def http_request(target: str, model: str, payload: Payload) -> bytes:
    headers = [f"POST /v2/models/{model}/infer HTTP/1.1", f"Host: {target}", f"Content-Length: {len(payload.body())}"]
    headers += [f"{name}: {value}" for name, value in payload.headers().items()]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + payload.body()


# --- one process -------------------------------------------------------------------------------


async def _grpc_loop(target: str, request: bytes, connections: int, until: float, out: dict) -> None:
    import grpc

    # a channel per connection, each with its own connection (a local subchannel pool), as the
    # HTTP generators open `connections` connections: one HTTP/2 connection would reach one worker
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.use_local_subchannel_pool", 1)]

    async def worker():
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            call = channel.unary_unary(GRPC_METHOD)
            while (started := time.perf_counter()) < until:
                try:
                    await call(request)
                except grpc.aio.AioRpcError:
                    out["errors"] += 1
                out["latencies_ms"].append((time.perf_counter() - started) * 1e3)

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _http_loop(target: str, request: bytes, connections: int, until: float, out: dict) -> None:
    host, port = target.rsplit(":", 1)

    async def worker():
        reader, writer = await asyncio.open_connection(host, int(port))
        while (started := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            if status != 200:
                out["errors"] += 1
            out["latencies_ms"].append((time.perf_counter() - started) * 1e3)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def _one_process(tool: str, target: str, request: bytes, connections: int, duration: float, queue) -> None:
    if tool == "grpc":
        import grpc  # noqa: F401 (imported before the clock starts: its CPU time is not the load's)
    out = {"errors": 0, "latencies_ms": []}
    loop = _grpc_loop if tool == "grpc" else _http_loop
    cpu_started = time.process_time()
    asyncio.run(loop(target, request, connections, time.perf_counter() + duration, out))
    out["cpu_s"] = time.process_time() - cpu_started
    queue.put(out)


def generate(tool: str, target: str, request: bytes, concurrency: int, duration: float, processes: int) -> dict:
    """`concurrency` requests in flight, spread over `processes` processes (forked before any
    gRPC channel exists)."""
    processes = min(processes, concurrency)
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    started = time.perf_counter()
    children = [
        context.Process(target=_one_process, args=(tool, target, request, share, duration, queue)) for share in shares
    ]
    for child in children:
        child.start()
    parts = [queue.get() for _ in children]
    for child in children:
        child.join()
    latencies = sorted(latency for part in parts for latency in part["latencies_ms"])
    return {
        "requests": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "seconds": time.perf_counter() - started,
        "cpu_s": sum(part["cpu_s"] for part in parts),  # the processes' CPU time while they sent
        "latencies_ms": latencies,
    }


# --- the harness's side ------------------------------------------------------------------------


def py_load(tool: str, server, model: str, payload: Payload, concurrency: int, duration: int, processes: int):
    """One run as a WrkResult, so it is reported like wrk's (latencies from first byte sent to last byte read)."""
    target = server.grpc_target if tool == "grpc" else server.url.removeprefix("http://")
    arguments = [tool, target, model, _case_id(payload), str(payload.path), payload.content_type,
                 str(payload.header_length or ""), str(concurrency), str(duration), str(processes)]  # fmt: skip
    command = [sys.executable, "-m", "bench.py_load", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    if completed.returncode != 0:
        raise RuntimeError(f"py_load failed: {' '.join(command)}\n{completed.stderr}")
    result = json.loads(completed.stdout)
    latencies = result["latencies_ms"]
    return WrkResult(
        requests_per_second=result["requests"] / duration,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        requests=result["requests"],
        non_2xx=result["errors"],
        socket_errors={},
        command=" ".join(command),
        output=json.dumps({key: value for key, value in result.items() if key != "latencies_ms"}),
        client_cpu_s=result["cpu_s"],
    )


def grpc_answer(server, model: str, payload: Payload) -> dict:
    """{"output": values} of one gRPC request, or {"error": why}: checked before the load runs."""
    command = [sys.executable, "-m", "bench.py_load", "answer", server.grpc_target, model, _case_id(payload)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        return {"error": f"gRPC request failed: {completed.stderr.strip()[-300:]}"}
    return json.loads(completed.stdout)


def grpc_wire(server, model: str, payload: Payload) -> tuple[Path, int]:
    """The case's gRPC request framed in a file beside its HTTP body, and a good answer's framed length."""
    path = payload.path.with_suffix(".grpc")
    if (path, model) not in _ANSWER_BYTES:
        command = [sys.executable, "-m", "bench.py_load", "request", model, _case_id(payload), str(path)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        _ANSWER_BYTES[path, model] = grpc_answer(server, model, payload)["message_bytes"]
    return path, _ANSWER_BYTES[path, model]


_ANSWER_BYTES: dict[tuple[Path, str], int] = {}


def _answer(target: str, model: str, case_id: str) -> dict:
    import grpc
    import numpy as np

    from service.grpc_api import grpc_predict_v2_pb2 as pb

    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    with grpc.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(GRPC_METHOD)
        message = call(grpc_request(model, case_id), timeout=60)
    response = pb.ModelInferResponse.FromString(message)
    output = np.frombuffer(response.raw_output_contents[0], dtype="<f4").tolist()
    return {"output": output, "message_bytes": GRPC_PREFIX_BYTES + len(message)}


def write_grpc_request(model: str, case_id: str, path: str) -> None:
    """The case's ModelInferRequest framed as on the wire (h2load sends the file as it is)."""
    message = grpc_request(model, case_id)
    Path(path).write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)


def _case_id(payload: Payload) -> str:
    return payload.path.stem  # the harness names each body file after its case


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main(argv: list[str]) -> None:
    if argv[0] == "answer":
        print(json.dumps(_answer(*argv[1:4])))
        return
    if argv[0] == "request":
        write_grpc_request(*argv[1:4])
        return
    tool, target, model, case_id, body, content_type, header_length, concurrency, duration, processes = argv
    if tool == "grpc":
        request = grpc_request(model, case_id)
    else:
        payload = Payload(Path(body), content_type, int(header_length) if header_length else None)
        request = http_request(target, model, payload)
    print(json.dumps(generate(tool, target, request, int(concurrency), float(duration), int(processes))))


if __name__ == "__main__":
    main(sys.argv[1:])
