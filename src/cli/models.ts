/** `fewshot models`: the model zoo: list it, show a model's card, add a trained model to it. */
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { formatTable } from './format.js';
import { ModelCard, cardText, readCard, zooDir, zooNames } from '../models/zoo.js';

const pct = (x: number) => (100 * x).toFixed(2);

function listing(cards: readonly ModelCard[]): string {
  return formatTable(
    ['model', 'recipe', 'suite', 'accuracy % (95% CI)', 'trained (episodes)', 'weights sha256'],
    cards.flatMap((c) =>
      c.results.map((r, i) => [
        i === 0 ? c.name : '',
        i === 0 ? (c.recipe ?? '-') : '',
        r.suite,
        `${pct(r.accuracy)} +- ${pct(r.ci95)}`,
        i === 0 ? `${c.training.modelEpisode} of ${c.training.episodes}` : '',
        i === 0 ? c.weights.sha256.slice(0, 16) : '',
      ]),
    ),
  );
}

export function registerModelsCommand(program: Command): void {
  const models = program
    .command('models')
    .description(COMMANDS.models.description)
    .option('--json', 'print the cards as one JSON array')
    .action((opts) => {
      const cards = zooNames().map((n) => readCard(n));
      if (opts.json) console.log(JSON.stringify(cards));
      else if (cards.length === 0) console.log(`no models in ${zooDir()}`);
      else console.log(listing(cards));
    });
  models
    .command('show')
    .description("a zoo model's card: recipe and command, code version, training, weights' sha256, results")
    .argument('<name>', 'zoo model name (fewshot models lists them)')
    .option('--json', 'print the card as JSON')
    .action((name: string, _opts, command: Command) => {
      const card = readCard(name);
      // `--json` after the name is taken by `models` itself (its listing's option).
      const json = command.optsWithGlobals().json;
      console.log(json ? JSON.stringify(card, null, 2) : cardText(card).trimEnd());
    });
  models
    .command('add')
    .description(
      'add a trained model to the zoo: copies the checkpoint and writes its card from the run and its committed evaluation',
    )
    .argument('<run>', 'training run folder (a recipe run: the model it delivers)')
    .requiredOption('--results <dir>', 'its committed evaluation: summary.json, <suite>.episodes.csv, train-log.jsonl')
    .option('--name <name>', "zoo name (default: the run's recipe)")
    .option(
      '--code-commit <commit>',
      "git commit of the code that trained it, where the run's provenance has none (a run that recorded no provenance needs it)",
    )
    .option('--command <line>', "the exact training command, where it is not the recipe's own")
    .option('--replace', 'replace a zoo model of the same name')
    .action(async (run: string, opts) => {
      const { addToZoo } = await import('../train/zoo-add.js');
      const card = await addToZoo({ run, ...opts });
      console.log(`added ${card.name} to ${zooDir()}`);
      console.log(cardText(card).trimEnd());
    });
}
