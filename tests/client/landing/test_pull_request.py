"""A pull request's title and body, and where GitHub opens one without gh: pure."""

from __future__ import annotations

from client.landing.candidates import pick
from client.landing.pull_request import compare_url, pr_body, pr_title
from tests.client.landing.test_candidates import made, result
from workflows.sdk.models import Selection


def test_a_pull_request_says_the_prompt_the_choice_the_checks_the_cost_and_the_run_s_link():
    winner = made("c/1", "orchard/b/1", selection=Selection(candidate=1, winner=True, reason="highest score (7)"), metrics={"score": 7},
                  cost_usd=0.25, plugin="claude-code", model="sonnet", files_changed=2, insertions=10, deletions=1)
    run = result(winner, made("c/2", "orchard/b/2"))
    chosen = pick(run, None)
    assert pr_title("  \nFix the login bug\nwith details", chosen) == "Fix the login bug"
    assert pr_title("x" * 100, chosen) == "x" * 71 + "…"
    body = pr_body(run, "Fix the login bug\nwith details", chosen, "http://ui/namespaces/default/workflows/run_x")
    for said in ("run `run_x` (best-of-n), candidate 1 of 2", "> Fix the login bug\n> with details", "how it was chosen: the winner: highest score (7)",
                 "score or checks: score 7", "verification: -", "agent: claude-code sonnet", "changes: 2 files, +10/-1",
                 "cost: $0.2500 (the whole run: $0.5000, 2 instances)", "the run in Temporal: http://ui/namespaces/default/workflows/run_x"):
        assert said in body
    assert "Temporal" not in pr_body(run, "p", chosen, None)


def test_without_gh_a_github_remote_gets_the_page_that_opens_the_pull_request():
    for url in ("https://github.com/acme/app.git", "git@github.com:acme/app.git", "ssh://git@github.com/acme/app", "https://github.com/acme/app/"):
        assert compare_url(url, "main", "orchard/simple/run_x/k1") == "https://github.com/acme/app/compare/main...orchard/simple/run_x/k1?expand=1"
    assert compare_url("/srv/git/app.git", "main", "b") is None and compare_url("https://gitlab.com/acme/app.git", "main", "b") is None
