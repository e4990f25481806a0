"""The Recognition aggregate: public kudos to one or more colleagues."""

from __future__ import annotations

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import RecognitionGiven
from trellis.core.errors import InvalidInput, RuleViolation
from trellis.core.store.aggregate import Aggregate

MAX_RECIPIENTS = 50


class Recognition(Aggregate):
    aggregate_type = "recognition"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.giver_id = ""
        self.recipient_ids: list[str] = []
        self.message = ""
        self.objective_id: str | None = None
        self.value: str | None = None

    def apply(self, event: DomainEvent) -> None:
        match event:
            case RecognitionGiven():
                self.giver_id = event.giver_id
                self.recipient_ids = list(event.recipient_ids)
                self.message = event.message
                self.objective_id = event.objective_id
                self.value = event.value
            case _:
                raise TypeError(f"Recognition cannot apply {type(event).__name__}")

    def give(
        self,
        *,
        giver_id: str,
        recipient_ids: list[str],
        message: str,
        objective_id: str | None = None,
        value: str | None = None,
        allowed_values: tuple[str, ...] = (),
    ) -> None:
        """Kudos from ``giver_id``. ``allowed_values`` empty: any company value is accepted."""
        if self.exists:
            raise RuleViolation(f"recognition {self.id} already exists")
        recipients = list(dict.fromkeys(recipient_ids))  # unique, in the order given
        if not recipients:
            raise InvalidInput("recognise at least one person")
        if len(recipients) > MAX_RECIPIENTS:
            raise InvalidInput(f"at most {MAX_RECIPIENTS} people per recognition")
        if giver_id in recipients:
            raise InvalidInput("recognise someone else")
        if not message.strip():
            raise InvalidInput("a recognition needs a message")
        if value is not None and allowed_values and value not in allowed_values:
            raise InvalidInput(f"value must be one of the company values: {', '.join(allowed_values)}")
        self.record(
            RecognitionGiven(
                recognition_id=self.id,
                giver_id=giver_id,
                recipient_ids=recipients,
                message=message,
                objective_id=objective_id,
                value=value,
            )
        )
