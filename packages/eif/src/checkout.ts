import { fileURLToPath } from "node:url";

/**
 * The root of the strongroom checkout this package is part of (packages/eif/src
 * or packages/eif/dist is two levels below it): the image is built from its
 * sources, its node_modules and its native addon.
 */
export const CHECKOUT_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
