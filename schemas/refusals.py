"""The types of the failures with which the engine answers a sender (docs/contract.md).

A refused decision, a message that does not fit the contract, an erasure request that may not be
made and a second start of an incident's id each reach the sender as an `ApplicationError` of one
of these types. The workflows and activities that raise them and the failure converter that sends
them without a stack trace (workers/failures.py) all take them from here; this module imports
nothing, so a client's data converter does not import the workflows for four names.
"""

REFUSED = "DecisionRefused"
"""A decision (or an approval) the rules refuse; nothing changed."""
MALFORMED = "MalformedDecision"
"""A message or an intake that does not fit the contract."""
REFUSED_REQUEST = "ErasureRefused"
"""An erasure request that may not be made."""
ALREADY_OPENED = "IncidentAlreadyOpened"
"""A second start of an incident's id: the register already holds the incident."""
