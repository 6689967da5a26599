"""A strategy that asks a person before and after its one instance (tests of ctx.ask)."""

from dataclasses import dataclass, field

from workflows import InstanceResult, Strategy, StrategyConfig


@dataclass
class AskingConfig(StrategyConfig):
    choices: list[str] = field(default_factory=lambda: ["go", "stop"])
    default: str | None = None
    timeout: float | None = None
    together: bool = False
    """Ask two questions at once (keys `first` and `second`)."""


class AskingStrategy(Strategy):
    def get_config_class(self):
        return AskingConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        cfg: AskingConfig = self.create_config()  # type: ignore[assignment]
        if cfg.together:
            import asyncio

            answers = await asyncio.gather(
                ctx.ask("First of two?", choices=cfg.choices, key="first"), ctx.ask("Second of two?", choices=cfg.choices, key="second")
            )
            prompt = f"{prompt} ({', '.join(a.choice for a in answers)})"
        else:
            answer = await ctx.ask(f"Start work on {prompt!r}?", choices=cfg.choices, default=cfg.default, timeout=cfg.timeout)
            if answer.choice == "stop":
                return []
            prompt = f"{prompt} ({answer.choice}{': ' + answer.note if answer.note else ''})"
        result = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key=ctx.key("work")))
        return [result]
