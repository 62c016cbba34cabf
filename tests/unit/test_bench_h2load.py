"""bench/h2load.py reads h2load's report, and counts a gRPC error (a 200 without a message) as one."""

from bench.h2load import parse_h2load

REPORT = """
finished in 5.00s, 8276.60 req/s, 1.19MB/s
requests: 41383 total, 41399 started, 41383 done, 41383 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 41383 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 5.73MB (6008542) total, 243.71KB (249562) headers (space savings 95.18%), {data}
"""


def test_every_answer_with_its_message_is_a_success():
    result = parse_h2load(REPORT.format(data="1.94MB (2027767) data"), "h2load", 49, [1.0, 2.0, 3.0])
    assert result.requests_per_second == 8276.60
    assert (result.requests, result.non_2xx, result.p50_ms, result.p99_ms) == (41383, 0, 2.0, 3.0)


def test_answers_without_a_message_are_counted_as_errors():
    result = parse_h2load(REPORT.format(data="1.94MB (2027718) data"), "h2load", 49, [1.0])
    assert result.non_2xx == 1 and result.problems == ["1 non-2xx"]
