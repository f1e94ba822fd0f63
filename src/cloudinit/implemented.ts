/**
 * THE list of cloud-config keys that Coracle hosts apply. The host-side
 * validator warns about every other valid cloud-init key ("valid, but Coracle
 * hosts ignore it"); the guest agent (images/cloud-init, Go) implements
 * exactly these keys and sub-keys. Change both together, and the table in
 * src/cloudinit/README.md.
 *
 * `'*'` means every sub-key the schema allows; a list names the sub-keys
 * applied (for a list of mappings, the keys of each item). Other sub-keys
 * are warnings.
 */
export const IMPLEMENTED_KEYS = {
  bootcmd: '*',
  write_files: ['path', 'content', 'encoding', 'permissions', 'owner', 'append', 'defer'],
  hostname: '*',
  fqdn: '*',
  prefer_fqdn_over_hostname: '*',
  manage_etc_hosts: '*',
  preserve_hostname: '*',
  users: [
    'name',
    'groups',
    'shell',
    'passwd',
    'hashed_passwd',
    'lock_passwd',
    'uid',
    'ssh_authorized_keys',
    'homedir',
    'system',
  ],
  groups: '*',
  ssh_authorized_keys: '*',
  disable_root: '*',
  ntp: ['enabled', 'servers', 'pools'],
  timezone: '*',
  runcmd: '*',
  final_message: '*',
  power_state: ['delay', 'mode', 'message', 'timeout', 'condition'],
} as const satisfies Record<string, '*' | readonly string[]>;

export type ImplementedKey = keyof typeof IMPLEMENTED_KEYS;

export function isImplementedKey(key: string): key is ImplementedKey {
  return Object.hasOwn(IMPLEMENTED_KEYS, key);
}
