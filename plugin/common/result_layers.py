"""Result layers in the project: names that say what they hold, one "TerraLens results" group."""

from qgis.core import QgsProject

GROUP_NAME = "TerraLens results"
SUBJECT_CHARS = 48  # a layer name stays readable in the layers panel


def short_text(text, limit=SUBJECT_CHARS):
    """`text` cut at a word to at most `limit` characters, with "…" when cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;")
    return cut + "…"


def result_name(kind, subject, raster_names):
    """"Labels: forest, water… (scene)": what a layer holds and where it comes from."""
    names = list(raster_names)
    where = names[0] if len(names) == 1 else f"{len(names)} rasters"
    return f"{kind}: {short_text(subject)} ({short_text(where, 32)})"


def results_group(project=None):
    """The layer-tree group of result layers, or None before the first result."""
    return (project or QgsProject.instance()).layerTreeRoot().findGroup(GROUP_NAME)


def place_in_results_group(layer, project=None, replace_same_name=False):
    """Put `layer` (already in `project`, or added here) first in the results group.

    With `replace_same_name`, older layers of the group with the same name are removed (a
    repeated search replaces its previous answer instead of stacking another one).
    """
    project = project or QgsProject.instance()
    root = project.layerTreeRoot()
    group = results_group(project) or root.insertGroup(0, GROUP_NAME)
    others = [node.layer() for node in group.findLayers()
              if node.layer() is not None and node.layerId() != layer.id()]
    if replace_same_name:
        project.removeMapLayers([other.id() for other in others if other.name() == layer.name()])
    else:  # a run repeated: "Labels: … (scene) 2", so the runs can be told apart
        layer.setName(numbered(layer.name(), {other.name() for other in others}))
    if project.mapLayer(layer.id()) is None:
        project.addMapLayer(layer, False)
    node = root.findLayer(layer.id())
    if node is None:
        node = group.insertLayer(0, layer)
    elif node.parent() is not group:
        moved = node.clone()
        group.insertChildNode(0, moved)
        node.parent().removeChildNode(node)
        node = moved
    # Show the legend (labels and their colours, rank groups) at once. The layers panel reads
    # the flag only when it changes, and a moved or newly filled node starts collapsed there.
    for shown in (node, group):
        shown.setExpanded(False)
        shown.setExpanded(True)
    return group


def move_out_of_results_group(layers, project=None):
    """Move layers that QGIS has just added inside the results group to just below the group;
    returns the moved layers.

    QGIS adds a layer above the selected one, and after a run the selected layer is a result,
    so the next layer the user opened (or another algorithm's output) landed among the results.
    Below the group, not above: a raster opened there would hide every result, its own next
    ones too. TerraLens's own outputs are put back in the group by their post-processor.
    """
    project = project or QgsProject.instance()
    root, group = project.layerTreeRoot(), results_group(project)
    moved = []
    for layer in layers if group is not None else ():
        node = root.findLayer(layer.id())
        if node is None or not _inside(node, group):
            continue
        root.insertChildNode(root.children().index(group) + 1, node.clone())
        node.parent().removeChildNode(node)
        moved.append(layer)
    return moved


def _inside(node, group):
    parent = node.parent()
    while parent is not None and parent is not group:
        parent = parent.parent()
    return parent is group


def numbered(name, taken):
    """`name`, or `name 2`, `name 3` ... the first not in `taken`."""
    number, candidate = 1, name
    while candidate in taken:
        number += 1
        candidate = f"{name} {number}"
    return candidate


def put_under(project, layer_id, above_id):
    """Move the layer `layer_id` directly under the layer `above_id` when both are in the same
    group of the layer tree (else leave both where they are)."""
    root = project.layerTreeRoot()
    node, above = root.findLayer(layer_id), root.findLayer(above_id)
    if node is None or above is None or node.parent() is not above.parent():
        return
    parent = node.parent()
    ids = [getattr(child, "layerId", lambda: None)() for child in parent.children()]
    target = ids.index(above_id) + 1
    if ids.index(layer_id) == target:
        return
    moved = node.clone()
    parent.insertChildNode(target, moved)
    parent.removeChildNode(node)
