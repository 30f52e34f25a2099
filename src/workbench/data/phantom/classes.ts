import type { ClassInfo } from '../manifest.js';

/** One class of the phantom dataset: the manifest class plus its source dataset and size. */
export interface PhantomClass extends ClassInfo {
  /** The `dataset` column of its images (one synthetic source per modality). */
  dataset: string;
  /** Images at scale 1. */
  count: number;
  /** What an image of this class shows. */
  description: string;
}

type Row = [name: string, count: number, description: string];

// Class sizes at scale 1 follow a geometric (Zipf-like) tail from 250 down to 12:
// count(rank) = round(250 · (12/250)^((rank−1)/23)) for ranks 1..24, 1,935 images in all.
const ROWS: Row[] = [
  ['CT/head/normal', 129, 'axial head: scalp, bright skull ring, brain, CSF ventricles'],
  ['CT/head/hemorrhage', 45, 'round hyperdense intraparenchymal bleed with a hypodense edema halo'],
  [
    'CT/head/fracture',
    14,
    'linear lucent break through the skull ring, scalp swelling, sometimes a depressed fragment',
  ],
  ['CT/chest/normal', 219, 'axial chest: dark lungs with vessels, heart, spine, ribs, scanner table'],
  ['CT/chest/nodule', 76, 'round (sometimes spiculated) soft-tissue nodule inside a lung'],
  ['CT/chest/effusion', 18, 'dependent fluid crescent at the back of one or both lungs'],
  ['CT/chest/consolidation', 26, 'patchy dense airspace opacity with air bronchograms inside a lung'],
  ['CT/abdomen/normal', 113, 'axial abdomen: liver, spleen, stomach with gas, kidneys, spine, bowel'],
  ['CT/abdomen/cyst', 35, 'round hypodense liver cyst with a sharp thin rim'],
  ['CT/abdomen/calcification', 12, 'cluster of scattered tiny bright calcifications (pancreas or kidney)'],
  [
    'MR/brain/normal',
    192,
    'axial T1-like brain: bright fat, gyral gray/white contrast, dark ventricles, bias field, Rician noise',
  ],
  ['MR/brain/glioma', 99, 'intra-axial ring-enhancing mass with a dark necrotic core and surrounding edema'],
  ['MR/brain/meningioma', 59, 'bright homogeneous extra-axial mass on the skull inner table with a dural tail'],
  ['XR/chest/normal', 250, 'PA chest projection: dark lungs, bright mediastinum and heart, ribs, clavicles'],
  ['XR/chest/pneumonia', 168, 'fuzzy patchy airspace opacity in one lung'],
  ['XR/chest/effusion', 39, 'basal opacity with a meniscus blunting one costophrenic angle'],
  ['XR/chest/nodule', 16, 'small round opacity inside a lung'],
  ['XR/hand/normal', 87, 'PA hand: soft-tissue silhouette, radius/ulna, carpals, metacarpals, phalanges'],
  ['XR/hand/fracture', 20, 'radius, metacarpal or phalanx broken with a lucent gap, displacement and swelling'],
  ['XR/knee/normal', 67, 'AP knee: femoral condyles, tibial plateau, fibula, patella, even joint space'],
  ['XR/knee/osteoarthritis', 23, 'narrowed joint space, subchondral sclerosis and marginal osteophytes'],
  ['US/breast/normal', 30, 'sector image: skin, fat, glandular layer, muscle, pleura with speckle'],
  ['US/breast/benign', 147, 'oval circumscribed hypoechoic mass, wider than tall, posterior enhancement'],
  [
    'US/breast/malignant',
    51,
    'irregular spiculated hypoechoic mass, taller than wide, echogenic halo, posterior shadowing',
  ],
];

const DATASET: Record<string, string> = { CT: 'phantom-ct', MR: 'phantom-mr', XR: 'phantom-xr', US: 'phantom-us' };

/**
 * The phantom class table: 4 modalities, 8 modality/region pairs (7 region names), 24 classes;
 * each region has exactly one anatomical class `normal`, every other class is pathological.
 */
export const PHANTOM_CLASSES: readonly PhantomClass[] = Object.freeze(
  ROWS.map(([name, count, description]) => {
    const [modality, region, label] = name.split('/');
    return Object.freeze({
      name,
      modality,
      region,
      label,
      kind: label === 'normal' ? ('anatomical' as const) : ('pathological' as const),
      dataset: DATASET[modality],
      count,
      description,
    });
  }),
);
