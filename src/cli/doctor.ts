/** `fewshot doctor`: which compute path runs here, and why the others do not. */
import { Command, Option } from 'commander';
import { COMMANDS } from './commands.js';
import { diagnose, formatDiagnosis } from '../doctor.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(COMMANDS.doctor.description)
    .addOption(new Option('--json', 'print the report as JSON'))
    .action(async (opts: { json?: boolean }) => {
      const report = await diagnose();
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatDiagnosis(report).join('\n'));
    });
}
