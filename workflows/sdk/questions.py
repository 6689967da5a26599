"""Questions a run asks a person (`ctx.ask`), answered through a Temporal update (`orchard answer`).

The book is the run's state: open questions and answers, carried across continue-as-new. While a
question is open the run shows it: the search attribute `OrchardWaiting` (so `orchard list
--waiting` and `orchard pending` find it), the memo (the questions, readable without a worker),
the Temporal UI's current details, and the progress query. Waiting costs nothing: it is a
condition on the workflow's state, with a durable timer for the deadline.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.sdk.errors import StrategyError
from workflows.sdk.models import Answer, AnswerRequest, Question, Questions
from workflows.sdk.visibility import MEMO_QUESTIONS, SA_WAITING


class AnswerRefused(ValueError):
    """The update validator's refusal: the run is unchanged and the one line reaches `orchard answer`."""


class QuestionBook:
    def __init__(self, state: Questions | None = None):
        self.state = state or Questions()

    def open_questions(self) -> list[Question]:
        return list(self.state.open)

    def answer_to(self, key: str) -> Answer | None:
        return next((a for a in self.state.answers if a.key == key), None)

    def _open(self, key: str) -> Question | None:
        return next((q for q in self.state.open if q.key == key), None)

    def next_key(self) -> str:
        return f"question/{self.state.asked + 1}"

    def ask(self, key: str, text: str, choices: list[str], default: str | None, timeout: timedelta | None) -> Question:
        """The open question under `key`, asked now unless it is open already (carried over)."""
        existing = self._open(key)
        if existing is not None:
            return existing
        if not text.strip():
            raise StrategyError("ctx.ask needs a question")
        if len(set(choices)) != len(choices) or any(not c.strip() for c in choices):
            raise StrategyError(f"ctx.ask {key!r}: choices must be distinct and non-empty: {choices}")
        if default is not None and choices and default not in choices:
            raise StrategyError(f"ctx.ask {key!r}: the default {default!r} is not one of the choices {choices}")
        if timeout is not None and default is None:
            raise StrategyError(f"ctx.ask {key!r}: a timeout needs a default to take when it passes")
        now = workflow.now()
        question = Question(key=key, text=text, choices=choices, default=default, asked_at=now, deadline=now + timeout if timeout else None)
        self.state.open.append(question)
        self.state.asked += 1
        self.publish()
        return question

    def check(self, request: AnswerRequest) -> Question:
        """The question `request` answers; raises AnswerRefused saying why it cannot be taken."""
        if not request.choice.strip():
            raise AnswerRefused("the answer is empty")
        if request.key is None:
            if not self.state.open:
                last = self.state.answers[-1] if self.state.answers else None
                raise AnswerRefused(
                    "the run waits for no answer" + (f"; its last question was already answered: {_answered(last)}" if last else "")
                )
            if len(self.state.open) > 1:
                keys = ", ".join(q.key for q in self.state.open)
                raise AnswerRefused(f"the run waits for {len(self.state.open)} answers; say which with --question KEY ({keys})")
            question = self.state.open[0]
        else:
            found = self._open(request.key)
            if found is None:
                done = self.answer_to(request.key)
                if done is not None:
                    raise AnswerRefused(f"question {request.key!r} was already answered: {_answered(done)}")
                keys = ", ".join(q.key for q in self.state.open) or "none"
                raise AnswerRefused(f"the run has no open question {request.key!r}; open: {keys}")
            question = found
        if question.choices and request.choice not in question.choices:
            raise AnswerRefused(f"{request.choice!r} is not a choice of question {question.key!r}; choose one of: {', '.join(question.choices)}")
        return question

    def take(self, request: AnswerRequest) -> Answer:
        question = self.check(request)
        return self._close(question, Answer(key=question.key, question=question.text, choice=request.choice, note=request.note, by=request.by,
                                            at=workflow.now()))

    def time_out(self, key: str) -> Answer:
        question = self._open(key)
        assert question is not None and question.default is not None
        return self._close(question, Answer(key=key, question=question.text, choice=question.default, at=workflow.now(), timed_out=True))

    def _close(self, question: Question, answer: Answer) -> Answer:
        self.state.open = [q for q in self.state.open if q.key != question.key]
        self.state.answers.append(answer)
        self.publish()
        return answer

    def close_all(self) -> None:
        """The run ends: its open questions stay unanswered and it no longer shows as waiting."""
        self.state.open = []
        self.publish()

    def publish(self) -> None:
        """Show whether the run waits, and for what: search attribute, memo and the UI's details."""
        waiting = self.state.open
        workflow.upsert_search_attributes([SA_WAITING.value_set(bool(waiting))])
        workflow.upsert_memo({MEMO_QUESTIONS: [q.model_dump(mode="json") for q in waiting]})
        workflow.set_current_details("\n".join(_details(q) for q in waiting))

    async def wait(self, question: Question) -> Answer:
        """The question's answer, once given, or its default when the deadline passes."""
        remaining = (question.deadline - workflow.now()).total_seconds() if question.deadline else None
        try:
            await workflow.wait_condition(lambda: self.answer_to(question.key) is not None, timeout=max(remaining, 0.001) if remaining is not None else None)
        except TimeoutError:
            if self.answer_to(question.key) is None:
                return self.time_out(question.key)
        answer = self.answer_to(question.key)
        assert answer is not None
        return answer


def _answered(answer: Answer | None) -> str:
    if answer is None:
        return ""
    who = "its deadline passed" if answer.timed_out else f"by {answer.by or 'someone'}"
    return f"{answer.choice!r} ({who} at {answer.at:%Y-%m-%d %H:%M:%S} UTC)"


def _details(question: Question) -> str:
    choices = f" — choices: {', '.join(question.choices)}" if question.choices else ""
    default = f"; default {question.default}" if question.default is not None else ""
    deadline = f" at {question.deadline:%Y-%m-%d %H:%M} UTC" if question.deadline else ""
    return f"**Waiting for a person** ({question.key}): {question.text}{choices}{default}{deadline}"


def timeout_of(value: float | timedelta | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if value <= 0:
        raise StrategyError(f"ctx.ask: timeout must be positive, got {value}")
    return timedelta(seconds=value)
