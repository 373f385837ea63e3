/** One line of `exai doctor`'s report; tracked-configs.ts makes some, doctor.ts the rest. */
export interface Finding {
  /** 'pm2', 'registry', or the workspace path. */
  scope: string;
  check: string;
  /** A warning is worth knowing but not a fault (doctor still exits 0). */
  status: 'ok' | 'problem' | 'fixed' | 'warning';
  message: string;
  /** What the user can run to fix it (for problems). */
  fix?: string;
}
