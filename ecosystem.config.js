// pm2 ecosystem file for every workspace exai knows (EXAI_HOME's registry):
//   pm2 start ecosystem.config.js     brings every registered workspace's daemon back on its port.
// pm2 loads this file with require(); in an ESM package that works on Node 20.19+ only with a
// named `apps` export (not `export default`), and only because nothing here awaits.
import { ecosystemApps } from './dist/start/ecosystem.js';

export const apps = ecosystemApps();
