"""A parent that tolerates a failing child: bug-finding first; when it fails, `simple` instead."""

from workflows import ChildFailed, InstanceResult, Strategy


class FallbackStrategy(Strategy):
    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        try:
            return await ctx.run_strategy("bug-finding", prompt, base_branch, params={"target_area": "app.py"}, key=ctx.key("hunt"))
        except ChildFailed as failed:
            results = await ctx.run_strategy("simple", prompt, base_branch, key=ctx.key("plain"))
            results[0].metadata["fallback_because"] = str(failed)
            return results
