"""The debugger's graph layout: left to right, loops drawn back, long edges around nodes."""

from __future__ import annotations

import tasquencer as tq
from examples import support_desk
from tasquencer import demo
from tasquencer.web.layout import lay_out


def structure_of(app: tq.App, name: str, workflow: tq.builder.WorkflowBuilder):
    return (
        app.register(tq.versions(name).version("v1", workflow)).api("v1").get_workflow_structure()
    )


def test_every_forward_edge_points_right_and_the_end_comes_last():
    app = tq.testing.create_app(auth=support_desk.AUTH)
    layout = lay_out(structure_of(app, "support_ticket", support_desk.support_ticket))
    at = {node.id: node for node in layout.nodes}

    assert all(not edge.backwards for edge in layout.edges)
    assert all(at[e.source].x < at[e.target].x for e in layout.edges)
    assert at["end"].x == max(node.x for node in layout.nodes)
    assert at["start"].x == min(node.x for node in layout.nodes)
    app.close()


def test_an_edge_over_several_layers_passes_between_the_nodes_in_them():
    app = tq.testing.create_app(auth=support_desk.AUTH)
    layout = lay_out(structure_of(app, "support_ticket", support_desk.support_ticket))
    at = {node.id: node for node in layout.nodes}
    (answer_to_close,) = [e for e in layout.edges if (e.source, e.target) == ("answer", "close")]

    waypoints = answer_to_close.points[1:-1]
    assert len(waypoints) == 2  # the layers of investigate and resolve lie between
    occupied = {(node.x, node.y) for node in layout.nodes}
    assert not occupied & set(waypoints)
    assert answer_to_close.through == "answer__to__close"
    assert at["answer"].x < waypoints[0][0] < waypoints[1][0] < at["close"].x
    app.close()


def test_a_loop_is_drawn_back_below_the_graph():
    app = tq.testing.create_app(auth=support_desk.AUTH)
    layout = lay_out(structure_of(app, "document_review", demo.document_review))
    at = {node.id: node for node in layout.nodes}

    (loop,) = [edge for edge in layout.edges if edge.backwards]
    # review -> drafting goes on to the right; drafting -> draft closes the loop
    assert (loop.source, loop.target) == ("drafting", "draft")
    assert at["draft"].x < at["review"].x < at["drafting"].x
    assert min(y for _, y in loop.points[1:3]) > max(node.y for node in layout.nodes)
    assert layout.height > max(node.y for node in layout.nodes) + 40
    app.close()
