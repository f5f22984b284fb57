// The one place that imports the native Roaring binding. `roaring` is CommonJS: from compiled ESM
// only its default export is reliable, so every module takes RoaringBitmap32 from here.

import roaring from 'roaring';

export const { RoaringBitmap32 } = roaring;
export type RoaringBitmap32 = InstanceType<typeof roaring.RoaringBitmap32>;
