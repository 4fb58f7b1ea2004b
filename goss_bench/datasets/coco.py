"""The COCO-Stuff label table: the one place goss-bench lists COCO classes.

Three id spaces (COCO-Stuff README):

* COCO category id ("source id" in split files): 1..91 things, 92..182 stuff,
  183 "other" (stuff JSON only); 0 = unlabeled in ``labels.txt``.
* stuffthingmaps PNG value: category id - 1 (0..181); 255 = unlabeled.
* The 11 thing ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91 were dropped
  from the COCO 2017 annotations: they never occur and are not evaluated, which
  leaves 80 things + 91 stuff = 171 evaluated classes.

Names follow COCO-Stuff ``labels.txt`` (nightrome/cocostuff @ 876a7db6); thing
supercategories are those of the COCO 2017 instances JSON and stuff
supercategories those of the COCO-Stuff stuff JSON (CC BY 4.0 annotations).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

UNLABELED_PNG = 255
"""stuffthingmaps value of unlabeled pixels (void)."""
OTHER_ID = 183
"""Stuff-JSON category "other": pixels the stuff annotators left to things (void)."""
NUM_PNG_VALUES = 182
"""PNG values 0..181 are classes."""


@dataclass(frozen=True)
class CocoClass:
    """One COCO-Stuff class.

    Attributes:
        id: COCO category id 1..182 (the split files' ``source_id``).
        name: COCO-Stuff name.
        kind: ``"thing"`` (ids 1..91) or ``"stuff"`` (92..182).
        supercategory: COCO supercategory ("" for the 11 unused thing ids).
        in_coco2017: False for the 11 thing ids without annotations in COCO 2017.
    """

    id: int
    name: str
    kind: str
    supercategory: str
    in_coco2017: bool

    @property
    def png(self) -> int:
        """The class's value in the stuffthingmaps PNGs (id - 1)."""
        return self.id - 1


# (id, name, kind, supercategory); supercategory "" = not annotated in COCO 2017
_ROWS: tuple[tuple[int, str, str, str], ...] = (
    (1, "person", "thing", "person"),
    (2, "bicycle", "thing", "vehicle"),
    (3, "car", "thing", "vehicle"),
    (4, "motorcycle", "thing", "vehicle"),
    (5, "airplane", "thing", "vehicle"),
    (6, "bus", "thing", "vehicle"),
    (7, "train", "thing", "vehicle"),
    (8, "truck", "thing", "vehicle"),
    (9, "boat", "thing", "vehicle"),
    (10, "traffic light", "thing", "outdoor"),
    (11, "fire hydrant", "thing", "outdoor"),
    (12, "street sign", "thing", ""),
    (13, "stop sign", "thing", "outdoor"),
    (14, "parking meter", "thing", "outdoor"),
    (15, "bench", "thing", "outdoor"),
    (16, "bird", "thing", "animal"),
    (17, "cat", "thing", "animal"),
    (18, "dog", "thing", "animal"),
    (19, "horse", "thing", "animal"),
    (20, "sheep", "thing", "animal"),
    (21, "cow", "thing", "animal"),
    (22, "elephant", "thing", "animal"),
    (23, "bear", "thing", "animal"),
    (24, "zebra", "thing", "animal"),
    (25, "giraffe", "thing", "animal"),
    (26, "hat", "thing", ""),
    (27, "backpack", "thing", "accessory"),
    (28, "umbrella", "thing", "accessory"),
    (29, "shoe", "thing", ""),
    (30, "eye glasses", "thing", ""),
    (31, "handbag", "thing", "accessory"),
    (32, "tie", "thing", "accessory"),
    (33, "suitcase", "thing", "accessory"),
    (34, "frisbee", "thing", "sports"),
    (35, "skis", "thing", "sports"),
    (36, "snowboard", "thing", "sports"),
    (37, "sports ball", "thing", "sports"),
    (38, "kite", "thing", "sports"),
    (39, "baseball bat", "thing", "sports"),
    (40, "baseball glove", "thing", "sports"),
    (41, "skateboard", "thing", "sports"),
    (42, "surfboard", "thing", "sports"),
    (43, "tennis racket", "thing", "sports"),
    (44, "bottle", "thing", "kitchen"),
    (45, "plate", "thing", ""),
    (46, "wine glass", "thing", "kitchen"),
    (47, "cup", "thing", "kitchen"),
    (48, "fork", "thing", "kitchen"),
    (49, "knife", "thing", "kitchen"),
    (50, "spoon", "thing", "kitchen"),
    (51, "bowl", "thing", "kitchen"),
    (52, "banana", "thing", "food"),
    (53, "apple", "thing", "food"),
    (54, "sandwich", "thing", "food"),
    (55, "orange", "thing", "food"),
    (56, "broccoli", "thing", "food"),
    (57, "carrot", "thing", "food"),
    (58, "hot dog", "thing", "food"),
    (59, "pizza", "thing", "food"),
    (60, "donut", "thing", "food"),
    (61, "cake", "thing", "food"),
    (62, "chair", "thing", "furniture"),
    (63, "couch", "thing", "furniture"),
    (64, "potted plant", "thing", "furniture"),
    (65, "bed", "thing", "furniture"),
    (66, "mirror", "thing", ""),
    (67, "dining table", "thing", "furniture"),
    (68, "window", "thing", ""),
    (69, "desk", "thing", ""),
    (70, "toilet", "thing", "furniture"),
    (71, "door", "thing", ""),
    (72, "tv", "thing", "electronic"),
    (73, "laptop", "thing", "electronic"),
    (74, "mouse", "thing", "electronic"),
    (75, "remote", "thing", "electronic"),
    (76, "keyboard", "thing", "electronic"),
    (77, "cell phone", "thing", "electronic"),
    (78, "microwave", "thing", "appliance"),
    (79, "oven", "thing", "appliance"),
    (80, "toaster", "thing", "appliance"),
    (81, "sink", "thing", "appliance"),
    (82, "refrigerator", "thing", "appliance"),
    (83, "blender", "thing", ""),
    (84, "book", "thing", "indoor"),
    (85, "clock", "thing", "indoor"),
    (86, "vase", "thing", "indoor"),
    (87, "scissors", "thing", "indoor"),
    (88, "teddy bear", "thing", "indoor"),
    (89, "hair drier", "thing", "indoor"),
    (90, "toothbrush", "thing", "indoor"),
    (91, "hair brush", "thing", ""),
    (92, "banner", "stuff", "textile"),
    (93, "blanket", "stuff", "textile"),
    (94, "branch", "stuff", "plant"),
    (95, "bridge", "stuff", "building"),
    (96, "building-other", "stuff", "building"),
    (97, "bush", "stuff", "plant"),
    (98, "cabinet", "stuff", "furniture-stuff"),
    (99, "cage", "stuff", "structural"),
    (100, "cardboard", "stuff", "raw-material"),
    (101, "carpet", "stuff", "floor"),
    (102, "ceiling-other", "stuff", "ceiling"),
    (103, "ceiling-tile", "stuff", "ceiling"),
    (104, "cloth", "stuff", "textile"),
    (105, "clothes", "stuff", "textile"),
    (106, "clouds", "stuff", "sky"),
    (107, "counter", "stuff", "furniture-stuff"),
    (108, "cupboard", "stuff", "furniture-stuff"),
    (109, "curtain", "stuff", "textile"),
    (110, "desk-stuff", "stuff", "furniture-stuff"),
    (111, "dirt", "stuff", "ground"),
    (112, "door-stuff", "stuff", "furniture-stuff"),
    (113, "fence", "stuff", "structural"),
    (114, "floor-marble", "stuff", "floor"),
    (115, "floor-other", "stuff", "floor"),
    (116, "floor-stone", "stuff", "floor"),
    (117, "floor-tile", "stuff", "floor"),
    (118, "floor-wood", "stuff", "floor"),
    (119, "flower", "stuff", "plant"),
    (120, "fog", "stuff", "water"),
    (121, "food-other", "stuff", "food-stuff"),
    (122, "fruit", "stuff", "food-stuff"),
    (123, "furniture-other", "stuff", "furniture-stuff"),
    (124, "grass", "stuff", "plant"),
    (125, "gravel", "stuff", "ground"),
    (126, "ground-other", "stuff", "ground"),
    (127, "hill", "stuff", "solid"),
    (128, "house", "stuff", "building"),
    (129, "leaves", "stuff", "plant"),
    (130, "light", "stuff", "furniture-stuff"),
    (131, "mat", "stuff", "textile"),
    (132, "metal", "stuff", "raw-material"),
    (133, "mirror-stuff", "stuff", "furniture-stuff"),
    (134, "moss", "stuff", "plant"),
    (135, "mountain", "stuff", "solid"),
    (136, "mud", "stuff", "ground"),
    (137, "napkin", "stuff", "textile"),
    (138, "net", "stuff", "structural"),
    (139, "paper", "stuff", "raw-material"),
    (140, "pavement", "stuff", "ground"),
    (141, "pillow", "stuff", "textile"),
    (142, "plant-other", "stuff", "plant"),
    (143, "plastic", "stuff", "raw-material"),
    (144, "platform", "stuff", "ground"),
    (145, "playingfield", "stuff", "ground"),
    (146, "railing", "stuff", "structural"),
    (147, "railroad", "stuff", "ground"),
    (148, "river", "stuff", "water"),
    (149, "road", "stuff", "ground"),
    (150, "rock", "stuff", "solid"),
    (151, "roof", "stuff", "building"),
    (152, "rug", "stuff", "textile"),
    (153, "salad", "stuff", "food-stuff"),
    (154, "sand", "stuff", "ground"),
    (155, "sea", "stuff", "water"),
    (156, "shelf", "stuff", "furniture-stuff"),
    (157, "sky-other", "stuff", "sky"),
    (158, "skyscraper", "stuff", "building"),
    (159, "snow", "stuff", "ground"),
    (160, "solid-other", "stuff", "solid"),
    (161, "stairs", "stuff", "furniture-stuff"),
    (162, "stone", "stuff", "solid"),
    (163, "straw", "stuff", "plant"),
    (164, "structural-other", "stuff", "structural"),
    (165, "table", "stuff", "furniture-stuff"),
    (166, "tent", "stuff", "building"),
    (167, "textile-other", "stuff", "textile"),
    (168, "towel", "stuff", "textile"),
    (169, "tree", "stuff", "plant"),
    (170, "vegetable", "stuff", "food-stuff"),
    (171, "wall-brick", "stuff", "wall"),
    (172, "wall-concrete", "stuff", "wall"),
    (173, "wall-other", "stuff", "wall"),
    (174, "wall-panel", "stuff", "wall"),
    (175, "wall-stone", "stuff", "wall"),
    (176, "wall-tile", "stuff", "wall"),
    (177, "wall-wood", "stuff", "wall"),
    (178, "water-other", "stuff", "water"),
    (179, "waterdrops", "stuff", "water"),
    (180, "window-blind", "stuff", "window"),
    (181, "window-other", "stuff", "window"),
    (182, "wood", "stuff", "solid"),
)

CLASSES: tuple[CocoClass, ...] = tuple(
    CocoClass(i, name, kind, sc, sc != "") for i, name, kind, sc in _ROWS
)
"""All 182 classes in id order (index = PNG value)."""


def evaluable() -> tuple[CocoClass, ...]:
    """The 171 classes annotated in COCO 2017 (80 things, 91 stuff), in id order."""
    return tuple(c for c in CLASSES if c.in_coco2017)


@lru_cache(maxsize=1)
def by_id() -> dict[int, CocoClass]:
    """Category id -> class."""
    return {c.id: c for c in CLASSES}


@lru_cache(maxsize=1)
def by_name() -> dict[str, CocoClass]:
    """Name -> class."""
    return {c.name: c for c in CLASSES}
