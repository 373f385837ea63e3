import { ExaiError } from '../common/errors.js';
import { parseCommand } from './output.js';

/** `stop|restart|remove --workspace DIR | --all [--json]`: exactly one of the two. */
export function parseTargets(command: string, argv: string[]) {
  const args = parseCommand(command, argv, {
    workspace: { type: 'string', short: 'w' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (!!args.workspace === !!args.all) {
    throw new ExaiError('USAGE', `exai ${command} needs exactly one of --workspace DIR or --all`);
  }
  return { workspace: args.workspace, all: args.all ?? false, json: args.json ?? false };
}
