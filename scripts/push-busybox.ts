// Builds the busybox base image (the same fixture the tests use) and pushes it with skopeo.
//   node --import tsx scripts/push-busybox.ts WORKDIR REGISTRY/REPO:TAG
import { makeBusyboxImage, pushLayout } from '../test/helpers/base-image.js';

const [work, destination] = process.argv.slice(2);
if (work === undefined || destination === undefined) {
  process.stderr.write('usage: push-busybox.ts WORKDIR REGISTRY/REPO:TAG\n');
  process.exit(2);
}
const image = await makeBusyboxImage(work);
pushLayout(image, destination);
process.stdout.write(`pushed ${destination} (${image.manifestDigest})\n`);
