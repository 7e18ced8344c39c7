"""The audit trail's spans through OpenTelemetry's SDK (the `otel` extra): exported after the
call commits, never for a call rolled back, one OpenTelemetry trace per workflow tree; and the
core works without OpenTelemetry installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tasquencer as tq
from tests.audit.test_recording import flat, reviewed


@pytest.fixture
def exported(tmp_path):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    audit = tq.Audit(exporter=tq.OpenTelemetryExporter(provider))
    with tq.testing.create_app(tmp_path / "otel.db", audit=audit) as app:
        yield app, memory


def test_the_spans_of_committed_calls_are_exported_with_their_nesting(exported):
    app, memory = exported
    api = app.register(reviewed()).api()
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    api.internal_start_work_item(item.id)
    recorded = flat(api.get_trace_spans(case))
    spans = memory.get_finished_spans()
    assert [s.name for s in spans] == [r.operation for r in recorded]
    assert [s.attributes["tasquencer.seq"] for s in spans] == [r.seq for r in recorded]
    assert len({s.context.trace_id for s in spans}) == 1  # one trace for the tree
    by_seq = {s.attributes["tasquencer.seq"]: s for s in spans}
    for record in recorded:
        span = by_seq[record.seq]
        if record.parent_seq is None:
            assert span.parent is not None and span.parent.is_remote  # the tree's trace root
        else:
            assert span.parent.span_id == by_seq[record.parent_seq].context.span_id
    other = api.internal_initialize_root_workflow()
    assert memory.get_finished_spans()[-1].attributes["tasquencer.trace_id"] == other
    assert memory.get_finished_spans()[-1].context.trace_id != spans[0].context.trace_id


def test_a_rolled_back_call_exports_nothing(exported):
    app, memory = exported
    api = app.register(reviewed()).api()

    @app.mutation
    def start_and_fail(ctx: tq.MutationContext) -> None:
        api.internal_initialize_root_workflow(ctx=ctx)
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        app.run_mutation(start_and_fail)
    assert memory.get_finished_spans() == ()
    assert api.list_workflows() == []


def test_the_core_works_without_opentelemetry():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed
        import tasquencer as tq
        from tests.audit.test_recording import reviewed
        with tq.testing.create_app() as app:
            api = app.register(reviewed()).api()
            case = api.internal_initialize_root_workflow()
            assert api.get_workflow_state_at(case, app.clock.now()).state == "initialized"
        try:
            tq.OpenTelemetryExporter()
        except ImportError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'tasquencer[otel]'" in result.stdout


def test_a_failing_exporter_does_not_fail_the_committed_call(tmp_path, caplog):
    class Broken:
        def export(self, trace_id: str, spans: list[tq.TraceSpan]) -> None:
            raise ConnectionError("collector down")

    with tq.testing.create_app(tmp_path / "broken.db", audit=tq.Audit(exporter=Broken())) as app:
        api = app.register(reviewed()).api()
        case = api.internal_initialize_root_workflow()
        assert api.get_workflow_state(case) == "initialized"
        assert api.get_trace_spans(case) != []
    assert "the audit exporter failed" in caplog.text
