"""Keypoint sets: flip pairs really swap left and right, coco13's head merge, hand21's layout."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.errors import DataError
from edgepose.skeletons import COCO13, COCO17, HAND21, coco17_to_coco13, flip_keypoints, skeleton_for


@pytest.mark.parametrize("skeleton", [COCO17, COCO13, HAND21])
def test_skeletons_are_consistent(skeleton):
    count = skeleton.num_keypoints
    assert len(skeleton.sigmas) == count and len(set(skeleton.keypoints)) == count
    assert all(0 <= a < count and 0 <= b < count for a, b in skeleton.limbs)
    permutation = skeleton.flip_permutation()
    assert sorted(permutation) == list(range(count))
    assert (permutation[permutation] == np.arange(count)).all()  # flipping twice is the identity


@pytest.mark.parametrize("skeleton", [COCO17, COCO13])
def test_flip_pairs_pair_left_with_right(skeleton):
    for left, right in skeleton.flip_pairs:
        assert skeleton.keypoints[left].startswith("left_")
        assert skeleton.keypoints[right] == skeleton.keypoints[left].replace("left_", "right_")
    unpaired = {skeleton.keypoints[i] for i in range(skeleton.num_keypoints)} - {
        skeleton.keypoints[i] for pair in skeleton.flip_pairs for i in pair
    }
    assert unpaired == ({"nose"} if skeleton is COCO17 else {"head"})


def test_counts_and_names():
    assert (COCO17.num_keypoints, COCO13.num_keypoints, HAND21.num_keypoints) == (17, 13, 21)
    assert skeleton_for(13) is COCO13 and skeleton_for("hand21") is HAND21
    assert HAND21.keypoints[4] == "thumb_tip" and HAND21.keypoints[20] == "pinky_tip"
    assert COCO13.sigmas[0] == pytest.approx(np.mean(COCO17.sigmas[:5]), abs=1e-4)
    with pytest.raises(DataError, match="use 13, 17 or 21"):
        skeleton_for(18)


def test_head_is_the_mean_of_the_labelled_face_points():
    kpts = np.zeros((17, 3), np.float32)
    kpts[0] = (10, 20, 2)  # nose
    kpts[1] = (12, 18, 1)  # left eye, occluded
    kpts[3] = (20, 22, 2)  # left ear
    kpts[5:, :] = np.arange(12 * 3).reshape(12, 3) + 1
    merged = coco17_to_coco13(kpts)
    assert merged.shape == (13, 3)
    np.testing.assert_allclose(merged[0], (14, 20, 2))
    np.testing.assert_array_equal(merged[1:], kpts[5:])


def test_head_without_labelled_face_points_is_unlabelled():
    merged = coco17_to_coco13(np.zeros((2, 17, 3)))
    assert merged.shape == (2, 13, 3) and not merged[:, 0].any()


def test_flip_mirrors_and_swaps():
    kpts = np.zeros((17, 3), np.float32)
    kpts[COCO17.index("left_wrist")] = (10, 50, 2)
    kpts[COCO17.index("nose")] = (40, 5, 2)
    flipped = flip_keypoints(kpts, width=100, skeleton=COCO17)
    np.testing.assert_allclose(flipped[COCO17.index("right_wrist")], (89, 50, 2))
    np.testing.assert_allclose(flipped[COCO17.index("nose")], (59, 5, 2))
    assert not flipped[COCO17.index("left_wrist")].any()  # unlabelled points stay at zero
    np.testing.assert_allclose(flip_keypoints(flipped, 100, COCO17), kpts)
