// Where the native addon is: node-gyp's output in this package. The enclave
// image's bundle (packages/eif/src/bundle.ts) replaces this module with one
// that names the addon beside the bundle, where the image puts it.
export const ADDON_URL = new URL("../build/Release/strongroom_nitro.node", import.meta.url);
