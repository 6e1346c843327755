"""A result's record in sentences: what made it and how far to trust it."""

from terralens.plugin.core.record_summary import record_summary


def test_summary_gives_the_model_scale_and_the_examples_accuracy():
    record = {"model_id": "m1", "image_encoder": "rgb", "job": "label from examples",
              "scale": {"gsd_m": 0.6, "tile_ground_m": 76.8, "how": "automatic"},
              "examples": {"given": 10, "used": 9, "outside": 1},
              "validation": {"method": "leave-one-out", "accuracy": 70.0, "validated": 9,
                             "per_class": {"airport": {"accuracy": 50.0, "validated": 2},
                                           "water": {"accuracy": None, "validated": 0}}},
              "classifier": {"method": "prototypes", "text_weight": 21.681},
              "refinement": {"ran": True, "changed_tiles": 2}}
    lines = record_summary(record).splitlines()
    assert lines[0] == "Made by TerraLens (label from examples) with the model m1 (rgb encoder)."
    assert lines[1] == "Scale: 0.6 m of ground a model pixel, tiles of 76.8 m (automatic)."
    assert lines[2] == ("Accuracy of the examples, leave-one-out: 70.0 % of 9 "
                        "(airport 50.0 % of 2).")
    assert "9 used, 1 outside" in lines[3] and "text weight 21.7" in lines[4]
    assert lines[5] == "Labels refined with all tiles together: 2 changed."
    assert "TERRALENS" in lines[-1]


def test_summary_of_an_empty_record_only_says_where_to_look():
    assert record_summary({}).count("\n") == 0


def test_parts_that_other_jobs_keep_as_numbers_are_left_out():
    record = {"model_id": "m1", "examples": 3, "scale": None, "validation": "none"}
    assert record_summary(record).splitlines()[0] == "Made by TerraLens with the model m1."
    assert len(record_summary(record).splitlines()) == 2


def test_summary_says_how_scores_were_scaled():
    record = {"classifier": {"method": "logistic regression", "text_weight": 18.5,
                             "score_temperature": 0.42},
              "parameters": {"refine": {"score_temperature": 2.5}},
              "refinement": {"ran": True, "changed_tiles": 7}}
    lines = record_summary(record).splitlines()
    assert lines[0] == ("Classifier: logistic regression, text weight 18.5; scores scaled by "
                        "1/0.42 to fit the examples.")
    assert lines[1].startswith("Labels refined with all tiles together: 7 changed; scores "
                               "softened by a temperature of 2.5")
