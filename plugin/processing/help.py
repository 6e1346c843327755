"""Help texts of the TerraLens algorithms, written for GIS analysts (HTML for the toolbox)."""

COMMON = """
<h3>Tiles and scale (advanced parameters)</h3>
<p>The raster is cut into square tiles, and the model looks at each tile as a small image of
<b>Tile size</b> model pixels (128 for the default model). The <b>ground sample distance</b> is
how many metres of ground one model pixel shows, so it sets how much ground a tile covers: 128
pixels at 5 m make tiles of 640 m. A model recognises scenes at the scales it was trained on,
and it cannot see detail that the raster does not have. So by default (-1) TerraLens chooses the
scale for each raster: the finest scale the model knows that enlarges a raster pixel at most 1.5
times (the model records the scales it knows and that limit). With the default model a 0.3 m
aerial photo is read at 0.6 m (tiles of 77 m), a 10 m Sentinel-2 true-colour image at 6.6 m
(tiles of 850 m) and a 30 m Landsat image at 20 m (tiles of 2.6 km); it knows 0.6 to 37.5 m. The
limit is chosen on validation mosaics; on the held-out scene mosaics of the README (section
Scale) finer scales, enlarging pixels 2 to 4 times, labelled better than this choice. The log
warns about such an enlargement, so compare both on your own raster. The log and the metadata of
the results give the scale and tile size used. A raster much coarser than the model knows, or a
ground sample distance that blows pixels up into blur or lies far outside the model's scales,
gets a warning that says what to change. Type a ground sample distance to choose the scale
yourself, or 0 to keep the raster's own pixels. A Tile size other than the model's own is a
zoom: each tile is resized to the model's input, so the model sees another scale than the ground
sample distance (the log says which, and warns when that enlarges pixels too much). A raster in
longitude and latitude (EPSG:4326) has pixels narrower on the ground than high away from the
equator; it is read as square pixels of their shorter side in its own CRS, so each tile still
covers a square of ground (the log says so; results stay in the raster's CRS). <b>Overlap</b>
makes neighbouring tiles share a part.</p>
<p>A photo from above has no "up", so each tile is looked at in 3 <b>rotations</b> (as it is,
turned by 180 and by 90 degrees) and the three are averaged: on held-out scene collections
zero-shot labels were right about 1 point more often, labels from examples 1 to 3 points.
It costs one pass of the model per rotation; 1 is fastest. Prompt masks use one.</p>
<h3>Bands and values (advanced parameters)</h3>
<p>Single-band rasters are repeated to red, green and blue; with more bands the first three (or the
ones tagged red/green/blue) are used, or give <b>Bands</b> as <code>4,3,2</code> (Sentinel-2 true
colour). 8-bit values are used as they are; 16-bit and float rasters get a 2-98 % stretch
unless you give a <b>value range</b> such as <code>0,3000</code>. Tiles with less valid area than
the threshold (nodata, outside the raster) are skipped, and so are tiles of one value in every
band (nothing to recognise; often a border filled without a nodata value): the log counts
them. An <b>extent</b> or a <b>polygon
layer</b> limits the work to an area (only its pixels are read, and the stretch is measured
there). Complex (SAR) rasters are read as their amplitude; a raster without georeferencing is
worked on in pixel coordinates, as QGIS shows it. A raster needs at least 8 pixels and an eighth
of a tile a side. The results record the model and all parameters (GeoPackage and GeoTIFF
outputs).</p>
<h3>Other sensors</h3>
<p>A model may hold image encoders for other band sets besides RGB. The default model has
two: <code>rgb</code> and <code>s2</code> (the 12 Sentinel-2 L2A bands B1-B12 without B10); a
model may also have <code>pan</code> (one band: the <code>rgb</code> encoder on the band
repeated, its results moved towards where the same scenes in colour lie). With <b>Image encoder</b>
<code>auto</code> the one whose band count fits the raster (or your band mapping) is used: a
12- or 13-band Sentinel-2 raster gets <code>s2</code> (bands matched by their descriptions,
else in Sentinel-2 order, B10 skipped); a single-band raster gets <code>pan</code> when the
model has one (else its band is repeated to red, green and blue for <code>rgb</code>);
anything else gets <code>rgb</code>. Type a name to force one; Models and settings lists what
a model has.</p>
"""

LOCATION = """
<h3>Location prior (advanced)</h3>
<p>A model with a location encoder can add what it learned about <i>places</i> to what it sees:
with a <b>location prior weight</b> above 0, each tile's score for a text gains that weight
times the similarity of the text to the tile's longitude/latitude. The raster must be
georeferenced. The default model's location encoder was fitted to 22 geotagged scenes only,
so it is a demonstration of the mechanism, not a geographic prior: leave it at 0 unless your
model was trained on many geotagged images.</p>
"""

TEXTS = {
    "zeroshotlabel": """
<p>Gives every tile of a raster the label that fits it best among the labels you type, with
a score, and the second and third best. No training is needed: the model compares each tile
with the words.</p>
<h3>Parameters</h3>
<ul>
<li><b>Labels</b> (required, unless you give a labels file): separated by commas, semicolons or
new lines, for example <code>forest, river, parking lot, residential area, farmland</code>; a
label in double quotes may hold a comma (<code>"forest, dense"</code>). Or a text file with one
label a line (both together are merged).</li>
<li><b>Top labels kept</b>: how many labels a tile keeps (1-3 are written as fields).</li>
<li><b>Minimum score</b>: tiles whose best score is lower get the label <code>unknown</code>.
Scores are the model's probabilities among <i>your</i> labels; they sum to 1 over the labels.
With refinement on (the default) they are the refined probabilities, softened so that they
come closer to the share of tiles labelled right. On two held-out scene collections (UC Merced,
RSSCN7) the mean best score was 72 and 82 % for 59 and 72 % of tiles right (65 and 83 % for 50
and 68 % right without refinement): on classes the model never trained on, scores still claim
more than they deliver, so read them as a ranking of how sure the model is.</li>
<li><b>Refine labels with the whole raster</b> (on by default): after every tile has been seen,
the labels are refined together. Tiles that look alike usually share a label, so a tile whose
own scores are unsure takes the label that its look-alikes in the raster point to; each tile's
own scores stay the starting point. It made zero-shot labels 5.5 to 7.3 points more accurate on
two held-out scene collections (UC Merced, RSSCN7; each tile in 3 rotations) and costs little:
about 7 seconds of CPU time for 100,000 tiles. Turn it off when tiles should be judged one by
one: a raster of a single tile or very few, unrelated images stitched together, or when you
list many labels that cannot occur in the raster (a label no tile prefers is left out, but a
label that a few tiles prefer by mistake can take more).</li>
<li><b>Prompt templates</b> (advanced): how a label becomes a sentence, <code>{}</code> marks
the label; several lines make an ensemble.</li>
</ul>
<h3>Outputs</h3>
<p>A polygon layer, one square a tile, with <code>label</code>, <code>score</code>,
<code>label_2</code>, <code>score_2</code>, <code>label_3</code>, <code>score_3</code>, styled by
label (with refinement on, the scores are the refined probabilities, softened); optionally a
class raster. The log says how many tiles refinement relabelled.</p>
<p>Example: <code>qgis_process run terralens:zeroshotlabel -- INPUT=scene.tif
LABELS="forest,water,buildings" OUTPUT=labels.gpkg</code></p>
""",
    "buildindex": """
<p>Embeds every tile of one or more rasters once and stores the result in a cache, so that
<b>Text search</b> answers queries on those rasters at once. Running it again on an unchanged
raster with the same settings reuses the cache; any change (the file, bands, tiling or model)
builds a new index.</p>
<h3>Outputs</h3>
<p>The index files (in the cache folder, by default your user cache) and the tile count.</p>
<p>Example: <code>qgis_process run terralens:buildindex -- INPUT=a.tif INPUT=b.tif</code></p>
""",
    "labelfromexamples": """
<p>Labels every tile of one or more rasters with classes you teach it by example: digitise a
few points or polygons on tiles of each class in a vector layer (any CRS; they are reprojected)
with a field that holds the class, for example <code>class</code> with values
<code>forest</code>, <code>water</code>, <code>fields</code>. A point picks the tile it falls
in, a polygon the tiles it mostly covers. The tiles are embedded once and cached (the same
index as <b>Build search index</b>), so a second run on the same rasters only refits the
classifier and writes the layer, in seconds.</p>
<p>How it decides: each class's examples are averaged into a prototype, and a tile gets the
class whose prototype (and, when the class has words, whose text) it is most like. How much
the words count is fitted to your examples, so words that describe your classes badly have
little say. With 8 or more examples in every class a logistic regression is fitted
instead, and its scores are scaled so that, on your own examples left out in turn, they match
how often it is right (held-out scene collections with 16 examples a class: a mean best score
of 0.89 for 89 % right, 0.84 for 83 %).</p>
<h3>Parameters</h3>
<ul>
<li><b>Examples</b> and <b>Class field</b>: the layer and the field with each example's class
(text or whole numbers). Examples without a class value, or outside every raster, are left out
and the log says which.</li>
<li><b>Text labels</b> (optional): words for classes, comma separated. A word that names a
class gives it that text (<code>forest</code>), <code>3=open water</code> gives class 3 the
words <code>open water</code>, and any other word adds a class known by its words alone (for
example <code>parking lot</code> with no example of it).</li>
<li><b>Use class names as text labels too</b>: a class name with letters in it is also used as
its text (untick it to label from the examples alone; numbers are never used as text).</li>
<li><b>Rasters the examples lie on</b> (optional): rasters that hold the examples when they
are not among the rasters to label, so that examples on one raster can label others.</li>
<li><b>Top labels kept</b>, <b>Minimum score</b> and <b>Refine labels with the whole
raster</b> (on by default): as in <b>Label tiles</b>; the classifier's probabilities are the
starting point of the refinement, one raster at a time, and the example tiles keep their class.
It runs while some class has fewer than 8 examples: with more, the classifier alone labels
better (measured on validation images), and the log says it was skipped.</li>
</ul>
<p>At least two classes are needed: examples of two classes, or examples of one and text
labels for others.</p>
<h3>Outputs</h3>
<p>A polygon layer, one square a tile, with <code>label</code>, <code>score</code> and the
runners-up (<code>raster</code> too when several rasters are labelled), styled by label, in
the first raster's CRS; optionally a class raster of the first raster. The log and the layer's
metadata give the number of examples used and their leave-one-out accuracy per class (each
example classified by a classifier fitted without it); the <code>ACCURACY</code> output gives
it overall.</p>
<p>Example: <code>qgis_process run terralens:labelfromexamples -- INPUT=scene.tif
EXAMPLES=samples.gpkg CLASS_FIELD=class OUTPUT=labels.gpkg</code></p>
""",
    "textsearch": """
<p>Finds the tiles of one or more rasters that best match a free-text query, for example
<code>airplanes parked beside a terminal</code>. The tiles are embedded once (the same index as
<b>Build search index</b>), so later queries on the same rasters take milliseconds.</p>
<h3>Parameters</h3>
<ul>
<li><b>Query</b>: what you are looking for, in plain words.</li>
<li><b>Exclude</b> (optional): words for what you do not want (for example <code>harbour</code>);
tiles that look like them are ranked lower.</li>
<li><b>Number of results</b>: how many tiles to return.</li>
</ul>
<h3>Outputs</h3>
<p>A polygon layer of the best tiles with <code>rank</code>, <code>score</code> (cosine
similarity, higher is better), <code>query</code> and <code>raster</code>, styled by score;
optionally a similarity heat-map raster of the first raster.</p>
<p>Example: <code>qgis_process run terralens:textsearch -- INPUT=scene.tif QUERY="tennis court"
OUTPUT=hits.gpkg</code></p>
""",
    "promptmask": """
<p>Outlines the areas that match a prompt, for example <code>building</code>, as polygons. The
model scores places in the raster against the prompt and a few background words (bare ground,
trees, grass, road, water ...), giving a probability map that is cut at a threshold.</p>
<p>By default (method <i>Dense</i>) a tile starts every 1/4 of a tile in both directions, so
each place is seen from 16 positions and its score is their average; the score grid is then
brought to the raster's own pixels along the image (joint bilateral upsampling: a pixel takes
the scores of nearby cells that look like it), so edges follow roofs, shores and field
boundaries instead of a grid. This costs about 16 times the encoding of one tiling. The
threshold is automatic: Otsu's method picks the probability that best splits the map into two
groups, so the mask adapts to the raster; the log says which threshold and which background
words were used, why a mask is empty when it is, and when the prompt never scores above an even
split with its background words anywhere (then it is likely absent: Otsu still splits the map,
so check such a mask). Measured on the SpaceNet Atlanta scene (0.5 m) and on Sentinel-2
water and vegetation: see the README.</p>
<h3>Parameters</h3>
<ul>
<li><b>Prompt</b>: what to outline.</li>
<li><b>Threshold</b>: probability (0-1) above which a place belongs to the mask; -1 (the
default) chooses it per raster. A fixed value gives the same cut on every raster.</li>
<li><b>Minimum area</b> (m²) and <b>simplify tolerance</b> (map units) clean the polygons.</li>
<li><b>Smallest region</b> (advanced): patches of the mask, and holes in it, smaller than this
share of a score cell (a quarter of a tile a side) are merged into what surrounds them before
the polygons are made: the scores cannot resolve anything that small, and the image-guided
edges otherwise leave specks of a few pixels (the demo mosaic's <code>water</code> mask: 1,455
polygons, 1,301 of them under 1 m², without it; 8 with the default 0.25). 0 keeps every
pixel.</li>
<li><b>Background prompts</b> (advanced): what the prompt competes with, comma-separated. Left
empty, the default words whose text is close to the prompt's are left out (for
<code>vegetation</code>: trees, grass), so a prompt that covers half the scene is still
found; the text model also puts some unrelated words close (for <code>water</code> it drops
grass and road), so the log names the words used: give your own when they matter.</li>
<li><b>Method</b> (advanced): <i>Dense</i> (above) or <i>Tiles</i>, the method before version 2
(one tiling, each tile's 4 x 4 grid smoothed; fast, coarse blobs).</li>
<li><b>Detail</b> (advanced, Dense): 2 makes the score grid twice as fine in each direction
and the encoding 4 times as long.</li>
</ul>
<h3>Outputs</h3>
<p>Polygons with <code>prompt</code>, <code>mean_score</code> and <code>area</code> (m²),
holes kept; optionally the probability raster. Both record the method and the threshold.</p>
<p>Example: <code>qgis_process run terralens:promptmask -- INPUT=scene.tif PROMPT=building
OUTPUT=buildings.gpkg</code></p>
""",
    "searchbyexample": """
<p>Finds the tiles that look like your examples: draw a few points or polygons on tiles like
the ones you want (a layer in any CRS; points pick the tile they fall in, polygons the tiles
they mostly cover) and get the most similar tiles of one or more rasters, ranked. Words can
steer the search: <b>Words to add</b> (<code>solar panels</code>) pulls it towards what they
describe, <b>Exclude</b> (<code>parking lot</code>) pushes away from it. The tiles are embedded
once (the same index as <b>Build search index</b> and <b>Text search</b>).</p>
<h3>Parameters</h3>
<ul>
<li><b>Examples</b>: a point or polygon layer; use <i>Selected features only</i> to take some of
its features. Examples outside every raster are left out, with a warning.</li>
<li><b>Rasters the examples lie on</b> (optional): where the examples are taken from, for
example last year's image, while the search runs over this year's. Empty: the rasters
searched. An example is taken from the first of them that holds it.</li>
<li><b>Say of the words</b> (advanced): 1 gives the words as much weight as the examples, 0
ignores them.</li>
<li><b>Rank the example tiles too</b> (advanced): by default the tiles the examples pick are
left out of the results (they would come first).</li>
</ul>
<h3>Outputs</h3>
<p>A polygon layer of the best tiles with <code>rank</code>, <code>score</code> (cosine
similarity to the mean of the examples, words added; higher is closer), <code>query</code>
(what was asked, e.g. <code>like 3 examples + solar panels</code>) and <code>raster</code>;
optionally a similarity heat-map of the first raster.</p>
<p>Example: <code>qgis_process run terralens:searchbyexample -- INPUT=scene.tif
EXAMPLES=examples.gpkg WORDS="solar panels" K=50 OUTPUT=like.gpkg</code></p>
""",
    "changedetection": """
<p>Compares two rasters of the same place at two dates tile by tile and says where the scene
changed. The rasters may differ in CRS, extent and resolution: the after raster is resampled
onto the before raster's pixel grid over their overlap, both are cut into the same tiles and
each tile's two embeddings are compared. Its change score is 1 - cosine similarity: 0 when
the model sees the same thing, larger the more the content of the tile differs.</p>
<h3>Parameters</h3>
<ul>
<li><b>Before</b> and <b>After</b>: the earlier and the later raster. They must overlap and have
the same bands (12-band Sentinel-2 against an RGB photo is refused unless <b>Bands</b> and
<b>Bands of the after raster</b> pick matching bands, e.g. <code>4,3,2</code> and
<code>1,2,3</code> with image encoder <code>rgb</code>). 16-bit rasters of the same type are
read with the before raster's stretch, so that the same values look the same.</li>
<li><b>Labels</b> (optional): each tile also gets its best label before and after, e.g.
<code>forest, farmland, houses, water, bare soil</code>, and a changed tile whose best label
changed says so: <code>forest -&gt; houses</code>.</li>
<li><b>Change threshold</b>: 0 adapts it to the scene: tiles that stand out from the bulk of
the scene's scores (the scores below the threshold, their median plus 6 robust standard
deviations, that is 6 x 1.4826 times their median absolute deviation, repeated from Otsu's cut
until stable, and never below 0.05) are marked changed, whether few or half of the tiles
changed. Tiles that nodata covers differently in the two rasters, or that one raster lacks
(nodata there, or one value in every band), are not compared (the log says how many).</li>
</ul>
<h3>Outputs</h3>
<p>A polygon layer, one square a tile compared, with <code>change</code> (1 - cosine),
<code>changed</code> (1 or 0) and, with labels, <code>label_before</code>,
<code>label_after</code> and <code>transition</code>; changed tiles are drawn in red. Optionally
a change heat-map. The log gives the threshold used and the number of changed tiles. A second
run on the same pair encodes nothing (the index cache).</p>
<p>Example: <code>qgis_process run terralens:changedetection -- BEFORE=2019.tif AFTER=2024.tif
LABELS="forest,farmland,houses,water,bare soil" OUTPUT=changes.gpkg</code></p>
""",
}


WITH_LOCATION = ("zeroshotlabel", "textsearch")


def help_html(name):
    """The help text of algorithm `name`, then the shared parts (tiles and bands, sensors, and
    the location prior where the algorithm has one), on one line: QGIS's help pane turns every
    line break of the source into a visible break, mid-sentence."""
    text = TEXTS.get(name, "") + COMMON + (LOCATION if name in WITH_LOCATION else "")
    return " ".join(text.split())
