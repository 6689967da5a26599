"""`doc-review`: reviewers per page, a validator per reviewer, and a composer.

Each page gets `reviewers_per_page` reviewers, each writing
`reports/doc-review/raw/REPORT_{slug}__r{n}.md` on its own branch. As soon as a reviewer
finishes, a validator starts from its branch and refines that report (drops what the page does
not support, sharpens the rest); a report counts once the file is on the validator's commit.
A `gather` step (a plain git command run as an instance, no agent) puts every validated report
on one branch from the base, and the composer writes `reports/doc-review/REPORT.md` there: the
final branch holds the validated reports and the final report.

Pages come from `-S pages_file=pages.yml`, a list of `{title, path, slug?}`; the client reads the
file and passes its content, since workflows cannot read files.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, model_validator

from workflows.sdk.context import Context
from workflows.sdk.errors import InstanceFailed, StrategyError
from workflows.sdk.models import InstanceResult
from workflows.sdk.params import FROM_FILE
from workflows.sdk.strategy import Strategy, StrategyConfig

RAW_REPORT = "reports/doc-review/raw/REPORT_{slug}__r{n}.md"
FINAL_REPORT = "reports/doc-review/REPORT.md"


class Page(BaseModel):
    title: str = Field(min_length=1)
    path: str = Field(min_length=1)
    slug: str = ""

    @model_validator(mode="after")
    def _slug(self) -> Page:
        self.slug = self.slug or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "page"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.slug):
            raise ValueError(f"slug {self.slug!r} may only hold letters, digits, '-' and '_'")
        return self


@dataclass
class DocReviewConfig(StrategyConfig):
    pages_file: list[Page] = field(default_factory=list, metadata=FROM_FILE)
    reviewers_per_page: int = 1

    def __post_init__(self) -> None:
        if not self.pages_file:
            raise ValueError("pages_file is required: -S pages_file=pages.yml, a list of {title, path, slug}")
        if self.reviewers_per_page < 1:
            raise ValueError("reviewers_per_page must be at least 1")
        slugs = [p.slug for p in self.pages_file]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            raise ValueError(f"pages share the slug {twice[0]!r}; give them distinct slugs")


class DocReviewStrategy(Strategy[DocReviewConfig]):
    def get_config_class(self) -> type[DocReviewConfig]:
        return DocReviewConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        ctx.phase = "reviewing"
        chains = [
            self._review_and_validate(ctx, cfg, prompt, base_branch, page, n)
            for page in cfg.pages_file
            for n in range(1, cfg.reviewers_per_page + 1)
        ]
        outcomes = list(await asyncio.gather(*chains))
        reports = [r for r in outcomes if r.metadata.get("validated")]
        if not reports:
            reasons = "; ".join(f"{r.key}: {r.error or (r.selection.ineligible if r.selection else None)}" for r in outcomes)
            raise StrategyError(f"no validated report ({reasons})")

        ctx.phase = "gathering"
        gather = {
            "prompt": "gather the validated reports",
            "base_branch": base_branch,
            "plugin": "command",
            "agent_command": gather_command(reports),
        }
        gathered = await ctx.wait(await ctx.run(gather, key=ctx.key("gather")))
        ctx.phase = "composing"
        compose = {"prompt": self._compose_prompt(prompt, reports), "base_branch": gathered.branch_name, "model": cfg.model}
        final = await ctx.wait(await ctx.run(compose, key=ctx.key("compose")))
        if not (await ctx.verify(final, f"test -f {FINAL_REPORT}")).passed:
            raise StrategyError(f"the composer did not commit {FINAL_REPORT}")
        final.metadata.update(reports=[r.metadata["report"] for r in reports])
        final.select(reason=f"{FINAL_REPORT} composed from {len(reports)} of {len(outcomes)} validated reports")
        return [final, *outcomes]

    async def _review_and_validate(
        self, ctx: Context, cfg: DocReviewConfig, prompt: str, base_branch: str, page: Page, n: int
    ) -> InstanceResult:
        """One reviewer, then at once its validator on the reviewer's branch."""
        report = RAW_REPORT.format(slug=page.slug, n=n)
        review = {"prompt": self._review_prompt(prompt, page, report), "base_branch": base_branch, "model": cfg.model}
        try:
            reviewed = await ctx.wait(await ctx.run(review, key=ctx.key("review", page.slug, n)))
            if not reviewed.has_changes:
                reviewed.select(ineligible="the reviewer committed no report")
                return reviewed
            validate = {"prompt": self._validation_prompt(page, report), "base_branch": reviewed.branch_name, "model": cfg.model}
            validated = await ctx.wait(await ctx.run(validate, key=ctx.key("validate", page.slug, n)))
        except InstanceFailed as failed:
            return failed.result
        validated.metadata.update(page=page.slug, reviewer=n, report=report)
        if (await ctx.verify(validated, f"test -f {shlex.quote(report)}")).passed:
            validated.metadata["validated"] = True
        else:
            validated.select(ineligible=f"{report} is not on the validator's commit")
        return validated

    def _review_prompt(self, prompt: str, page: Page, report: str) -> str:
        return (
            f"{prompt}\n\nReview the documentation page \"{page.title}\" at `{page.path}` in this repository: "
            "check it against the code for errors, omissions, unclear or outdated passages. Do not edit the page.\n"
            f"Write your report to `{report}` (one numbered finding each: where, what is wrong, the fix) and commit it."
        )

    def _validation_prompt(self, page: Page, report: str) -> str:
        return (
            f"Refine the review report `{report}` in place: it reviews the page \"{page.title}\" at `{page.path}`. "
            "Check every finding against the page and the code; remove findings that do not hold, make the others "
            "precise (location, evidence, fix), and commit the refined report. Do not edit the page."
        )

    def _compose_prompt(self, prompt: str, reports: list[InstanceResult]) -> str:
        listed = "\n".join(f"- {r.metadata['report']}" for r in reports)
        return (
            f"{prompt}\n\nValidated documentation review reports are in this repository:\n{listed}\n\n"
            f"Write the final report to `{FINAL_REPORT}`: merge the reports page by page, drop duplicates, "
            "order findings by severity, and commit it."
        )


def gather_command(reports: list[InstanceResult]) -> str:
    """A shell command that checks out each validated report from its commit and commits them."""
    steps = [f"git checkout {r.commit} -- {shlex.quote(r.metadata['report'])}" for r in reports]
    message = shlex.quote(f"doc-review: {len(reports)} validated reports")
    return " && ".join([*steps, f"git commit -q -m {message}"])
