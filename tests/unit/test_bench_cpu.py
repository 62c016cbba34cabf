"""The benchmark's CPU time per call: a load generator's own time, and how the report shows it."""

import sys

from bench.report import grpc_cpu_table, throughput_cpu_table
from bench.wrk import WrkResult, run_timed

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_load_generator_that_computes_is_charged_its_cpu_time():
    completed, cpu_s = run_timed([sys.executable, "-c", BUSY], timeout=30)
    assert completed.returncode == 0
    assert 0.3 <= cpu_s < 2.0


def test_a_load_generator_that_waits_is_charged_little():
    _, cpu_s = run_timed([sys.executable, "-c", "import time; time.sleep(0.5)"], timeout=30)
    assert cpu_s < 0.3


def test_cpu_per_request_needs_requests_and_a_measure():
    result = WrkResult(100.0, 1.0, 2.0, requests=400, non_2xx=0, socket_errors={}, command="", output="")
    assert result.cpu_us_per_request(0.02) == 50.0
    assert result.cpu_us_per_request(None) is None
    result.requests = 0
    assert result.cpu_us_per_request(0.02) is None


def test_the_report_adds_server_and_load_generator_time():
    outcome = {"status": "ok", "wrk": {"requests_per_second": 1.0, "server_cpu_us": 130.0, "client_cpu_us": 25.5}}
    unknown = {"status": "ok", "wrk": {"requests_per_second": 1.0, "server_cpu_us": 140.0, "client_cpu_us": None}}
    rows = [{"case": "tiny-b1", "threads": 1, "contenders": {"grpc h2load": outcome, "http wrk": unknown, "x": None}}]
    table = grpc_cpu_table(rows).splitlines()
    assert "| tiny-b1 | 1 | grpc h2load | 130 | 25.5 | 156 |" in table
    assert "| tiny-b1 | 1 | http wrk | 140 | — | — |" in table
    assert not any("| x |" in line for line in table)


def test_the_throughput_cpu_table_has_a_column_per_server():
    def outcome(server_us):
        return {"status": "ok", "wrk": {"requests_per_second": 1.0, "server_cpu_us": server_us}}

    contenders = {"plain": outcome(600.0), "layerserve": outcome(150.0), "layerserve binary": None, "naive": None}
    rows = [{"case": "tiny-b1", "concurrency": 16, "threads": 4, "contenders": contenders}]
    assert "| tiny-b1 | 16 | 4 | 600 | 150 | — | — |" in throughput_cpu_table(rows).splitlines()
