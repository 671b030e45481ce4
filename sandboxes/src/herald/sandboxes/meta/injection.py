"""Applying armed faults (``herald.sandboxes.faults``) to a Graph call, with Meta's own error forms."""

from __future__ import annotations

from starlette.responses import Response

from herald.sandboxes.faults import Fault, FaultKind, Operation, apply_latency
from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import APP_RATE_LIMIT, PAGE_RATE_LIMIT, UNAVAILABLE, fault_error
from herald.sandboxes.meta.usage import minutes_until
from herald.sandboxes.responses import accept_then_fail


async def take_fault(
    call: GraphCall, operation: Operation, account: str | None, *, page_id: str | None
) -> Fault | None:
    """Consume the fault for this call. Errors and rate limits answer at once (:class:`Abort`); latency sleeps.

    Returns an ``accept_then_fail`` fault, to be applied by :func:`finish` once the work is done. Rate limits on
    Page calls are the Pages BUC form (80001 + ``X-Business-Use-Case-Usage`` whose
    ``estimated_time_to_regain_access`` points at ``until``); elsewhere (token endpoint, user calls) the app
    form (#4 + ``X-App-Usage``), which on Meta carries no reset hint.
    """
    fault = call.sandbox.state.faults.take(operation, account)
    if fault is None:
        return None
    await apply_latency(fault)
    if fault.kind is FaultKind.ERROR:
        call.fail(fault_error(fault.error, call.now), page_id=page_id)
    if fault.kind is FaultKind.RATE_LIMIT:
        regain = minutes_until(fault.until, call.now) if fault.until is not None else None
        call.fail(PAGE_RATE_LIMIT if page_id is not None else APP_RATE_LIMIT, page_id=page_id, regain_minutes=regain)
    return fault if fault.kind is FaultKind.ACCEPT_THEN_FAIL else None


async def finish(call: GraphCall, fault: Fault | None, response: Response) -> Response:
    """The normal answer, or, after an accept_then_fail fault, Meta's 503 / a timeout / a dropped connection."""
    if fault is None:
        return response
    return await accept_then_fail(fault, call.error(UNAVAILABLE))
