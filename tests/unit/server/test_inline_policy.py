"""Which requests the event loop may run itself: only kinds recently quick."""

from service.server.inline_policy import InlinePolicy

HEALTH = ("GET", b"/v2/health/live", 0)


def test_a_kind_never_seen_is_not_quick():
    assert not InlinePolicy().quick(HEALTH)


def test_a_quick_kind_is_quick_and_one_slow_answer_makes_it_slow_at_once():
    policy = InlinePolicy(budget_s=0.002)
    policy.record(HEALTH, 0.0001)
    assert policy.quick(HEALTH)
    policy.record(HEALTH, 0.5)
    assert not policy.quick(HEALTH)
    for _ in range(40):  # quick answers (timed in threads) bring it back gradually
        policy.record(HEALTH, 0.0001)
    assert policy.quick(HEALTH)


def test_kinds_past_the_table_size_are_never_quick():
    policy = InlinePolicy(kinds=2)
    for index in range(3):
        policy.record(("GET", f"/{index}".encode(), 0), 0.0001)
    assert policy.quick(("GET", b"/1", 0)) and not policy.quick(("GET", b"/2", 0))
