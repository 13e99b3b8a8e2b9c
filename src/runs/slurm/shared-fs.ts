// Whether the runs directory can be seen from other machines. Tasks of a job array run on any
// node, and each writes its run record into the runs directory and reads the sweep record from
// it, so on a cluster it must be on a shared filesystem. A local filesystem (identified by its
// statfs type) is refused unless launcher.nodes says every task runs on this machine; a type not
// known to be local (NFS, Lustre, GPFS, BeeGFS, CephFS, a FUSE mount, ...) is accepted.
import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** statfs f_type magic numbers of filesystems that only this machine sees (linux/magic.h). */
const LOCAL: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/ext3/ext4'], [0x58465342, 'xfs'], [0x9123683e, 'btrfs'], [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'], [0x2fc12fc1, 'zfs'], [0xf2f52010, 'f2fs'], [0x858458f6, 'ramfs'],
  [0x4d44, 'vfat'], [0x5346544e, 'ntfs'], [0x3153464a, 'jfs'], [0x52654973, 'reiserfs'],
]);

/** The local filesystem `path` (or its nearest existing ancestor) is on, or null when it is not known to be local. */
export function localFilesystem(path: string): string | null {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    return LOCAL.get(Number(statfsSync(p).type)) ?? null;
  } catch {
    return null;
  }
}
