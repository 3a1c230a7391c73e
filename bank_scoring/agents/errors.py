"""The agents' side refuses bad input with one of these, naming what is wrong; nothing is written."""

from __future__ import annotations


class AgentError(ValueError):
    """Base of every refusal of the agents' side (the CLI exits 2 on it)."""


class UnknownAgent(AgentError):
    """No active user of that name, or one without the right role."""


class UnknownCustomer(AgentError):
    """No customer with that id."""


class BadOutcome(AgentError):
    """An outcome that does not exist, or a callback time that cannot be used."""


class NoClaim(AgentError):
    """Recording or releasing a lead the agent does not hold (never claimed, expired or closed)."""


class ClaimLimit(AgentError):
    """The agent already holds as many leads as allowed: record or release one first."""


class NoNight(AgentError):
    """No published night to hand out leads from."""
