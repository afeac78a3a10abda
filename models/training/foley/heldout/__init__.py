"""Held-out worlds for the generalization protocol: never trained or tuned on.

Each module has its own generator code and shares with foley.world only the clip file format
(world.Clip, world.write_clip) and, where sensible, its sound library:

- clutter: unseen backgrounds and objects (textured clutter, boxes and irregular shapes dropped,
  slid into walls and struck; camera shake and zoom);
- render3d: an unseen render style (perspective 3-D with Lambert shading and cast shadows);
- sounds: the world's visuals with sounds the training world never used (class "unknown").
"""
WORLDS = ("clutter", "render3d", "sounds")
