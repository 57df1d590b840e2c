"""Procedural drill videos: articulated figures doing physical-education drills.

The project's demo and test data. Each clip shows one figure (head, torso, upper and lower arms
and legs drawn as thick rounded limbs) doing one drill; everything a camera would vary is
randomised per clip, and everything is a pure function of the seed, so the same seed always
gives byte-identical frames.

How a clip is made:

1. A pose function gives the 3D joint positions of the drill over time, in units of body height
   (x to the figure's left, y up, z forward). Walking, jogging, running and high knees are
   driven by joint angles; squats, lunges and push-ups place hands and feet and solve the limbs
   in between with two-segment inverse kinematics. The lowest hand or foot is put on the floor
   in every frame, so bobbing and flight phases come out of the leg geometry.
2. The figure is turned to face the camera (front-view drills) or to show its side (side-view
   drills), then seen by a camera with a random height (pitch), distance (slight perspective),
   placement, size and a slow zoom. The whole picture may be mirrored.
3. The background is a wall (plain, gradient, soft pattern or panels) above a floor with a
   floor line, optionally a lane of training cones, and a little sensor noise on top.

The drills, with the view they are filmed from and their pace:

    jumping_jacks  front  0.9-1.4 jumps/s    arms overhead and feet apart with a hop
    squats         side   0.35-0.6 reps/s    hips back and down, arms reaching forward
    arm_circles    front  0.9-1.6 circles/s  arms out to the sides, hands circling
    high_knees     side   2.6-3.4 steps/s    on the spot, thighs up to the horizontal
    lunges         side   0.35-0.55 reps/s   step forward, back knee down, hands on hips
    walking        side   1.6-2.0 steps/s
    jogging        side   2.6-3.0 steps/s
    running        side   3.6-4.2 steps/s
    push_ups       side   0.45-0.8 reps/s    body straight, elbows bending
    side_bends     front  0.3-0.55 bends/s   arms overhead, trunk bending left and right

Walking, jogging and running are done on the spot under a tracking camera: the figure stays
where the camera keeps it while the wall and the cones scroll past at the figure's ground
speed. The three gaits differ mainly in rhythm: cadences (steps per second) are drawn from
non-overlapping ranges (walking 1.6-2.0, jogging 2.6-3.0, running 3.6-4.2), and stride
amplitude, knee lift, arm swing and elbow bend, trunk lean and the bounce of a flight phase
grow with the cadence, as they do in people.

The modules, in the order they build on each other:

    body.py     the figure: proportions, clothes, joints, limb kinematics
    drills.py   the drills: pose functions, views and paces (DRILLS)
    scene.py    the camera and the room: wall, floor, cones
    tempo.py    the pace within a clip (varied on request) and the time of every repetition
    render.py   drawing the figure and rendering the frames of a plan of drills
    dataset.py  the public entry points: Segment, render_clip, render_clip_with_reps,
                render_still, render_sequence, timeline_dict, write_video,
                generate_dataset
    scenes.py   footage that is no drill (NON_DRILLS: idle, walk_across, empty_scene,
                camera_shake), to check that a model calls it unknown
    hard.py     the hard suite (HARD_CLASSES, `stmanet synth --suite hard`): distractor
                figures, a foreground pole or net, a moving camera and changing light around
                the athlete, and classes that differ only in order or rhythm

Every generated video knows its repetitions: `Segment.rep_times` holds the start and end of
each repetition (one cycle of the drill from its starting pose; one step for walking,
jogging, running and high knees), and `stmanet sequence` and `stmanet synth --reps` write them
into the expected timeline beside the video. `tempo=True` (`stmanet synth --tempo`,
`stmanet sequence --tempo`) varies the pace between and within clips and adds pauses, for
judging a repetition counter; the default pace is unchanged, so earlier videos stay the same.
"""

from stmanet.data.synthetic.dataset import (
    Segment,
    generate_dataset,
    render_clip,
    render_clip_with_reps,
    render_sequence,
    render_still,
    timeline_dict,
    write_video,
)
from stmanet.data.synthetic.drills import DRILLS
from stmanet.data.synthetic.scenes import NON_DRILLS, render_scene

__all__ = [
    "DRILLS",
    "NON_DRILLS",
    "Segment",
    "generate_dataset",
    "render_clip",
    "render_clip_with_reps",
    "render_scene",
    "render_sequence",
    "render_still",
    "timeline_dict",
    "write_video",
]
