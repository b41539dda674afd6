import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { initBackend } from '../src/backend.js';
import { runPaths } from '../src/train/run-folder.js';
import {
  RECIPES,
  Recipe,
  finalStageConfig,
  findRecipe,
  recipeConfig,
  recipePaths,
  recipeTeacher,
  trainRecipe,
} from '../src/train/recipe.js';
import { savedWeights as weights, tempDir } from './helpers.js';

/** The Snell recipe's stages and rules at a size a test can run: synthetic glyphs, 5-way, 8 filters. */
const tiny: Recipe = {
  name: 'tiny',
  description: 'test',
  config: {
    ...findRecipe('snell2017-omniglot-1shot').config,
    dataset: 'synthetic',
    split: 'train',
    valSuite: 'synthetic-val-5w1s',
    way: 5,
    width: 8,
    episodes: 60,
    validateEvery: 4,
    logEvery: 2,
    patience: 2,
    lrHalveEvery: 8,
  },
  finalSplit: 'val',
};

describe('recipes', function () {
  before(async () => {
    await initBackend('wasm');
  });

  it('ship the paper protocol for each shot: 60-way, 5 queries, lr 1e-3 halved every 2000, best by validation loss', () => {
    for (const shot of [1, 5]) {
      const r = RECIPES[`snell2017-omniglot-${shot}shot`];
      expect(r.config).to.include({
        dataset: 'omniglot',
        split: 'train',
        way: 60,
        shot,
        query: 5,
        width: 64,
        lr: 1e-3,
        lrHalveEvery: 2000,
        selectBy: 'loss',
        valSuite: `omniglot-val-5w${shot}s`,
      });
      expect(r.finalSplit).to.equal('trainval');
    }
    expect(() => findRecipe('snell')).to.throw(
      /unknown recipe 'snell' \(one of snell2017-omniglot-1shot, snell2017-omniglot-5shot, protonet-cifar-fs-1shot, /,
    );
  });

  it('ship the CIFAR-FS and FC100 protocols: 5-way at the test shot, 15 queries, crop and flip, one stage by accuracy', () => {
    for (const dataset of ['cifar-fs', 'fc100']) {
      for (const shot of [1, 5]) {
        const r = findRecipe(`protonet-${dataset}-${shot}shot`);
        expect(r.config).to.include({
          dataset,
          split: 'train',
          way: 5,
          shot,
          query: 15,
          width: 64,
          augment: 'crop-flip',
          lr: 1e-3,
          lrHalveEvery: 10000,
          selectBy: 'accuracy',
          valSuite: `${dataset}-val-5w${shot}s`,
        });
        expect(r.finalSplit).to.equal(undefined);
        expect(r.students).to.deep.equal({ episodes: 6000, lrHalveEvery: 2000 });
      }
    }
  });

  it('one stage: the selected model is the teacher, and its students train for its selected episodes with validation', async () => {
    const oneStage: Recipe = { ...tiny, name: 'tiny-one-stage', finalSplit: undefined };
    const config = recipeConfig(oneStage, { seed: 3 });
    const dir = tempDir();
    const result = await trainRecipe(config, dir);
    expect(result.final).to.equal(result.select);
    expect(fs.existsSync(path.join(dir, 'final'))).to.equal(false);
    const teacher = recipeTeacher(dir);
    expect(teacher).to.include({
      model: runPaths(recipePaths(dir).select).best,
      episodes: result.select.state.bestEpisode,
    });
    const students = finalStageConfig(config, teacher.episodes);
    expect(students).to.include({
      split: 'train',
      valSuite: 'synthetic-val-5w1s',
      episodes: teacher.episodes,
      patience: 0,
    });
    // An unfinished one-stage run hands nothing to students.
    const unfinished = tempDir();
    await trainRecipe(config, unfinished, {
      onEpisode: (e) => {
        if (e === 6) throw new Error('killed');
      },
    }).catch((err: Error) => expect(err.message).to.equal('killed'));
    expect(() => recipeTeacher(unfinished)).to.throw(/the recipe run has not finished/);
  });

  it('select by validation loss with patience, then retrain from scratch for the selected episodes; resumes identically', async () => {
    const config = recipeConfig(tiny, { seed: 2 });
    const dir = tempDir();
    const result = await trainRecipe(config, dir);
    const select = result.select.state;
    expect(select.stopped || select.episode === 60).to.equal(true);
    const losses = result.select.log.filter((l) => l.valLoss !== undefined).map((l) => l.valLoss as number);
    // The selected model is the one of lowest validation loss, and patience ran out after it.
    expect(select.bestValLoss).to.equal(Math.min(...losses));
    expect(select.bestEpisode % 4).to.equal(0);
    if (select.stopped) expect(select.episode - select.bestEpisode).to.equal(2 * 4);
    expect(result.final.state.episode).to.equal(select.bestEpisode);
    const finalConfig = JSON.parse(fs.readFileSync(path.join(recipePaths(dir).final, 'config.json'), 'utf8'));
    expect(finalConfig).to.include({ split: 'val', episodes: select.bestEpisode, patience: 0 });
    expect(finalConfig.valSuite).to.equal(undefined);
    const teacher = recipeTeacher(dir);
    expect(teacher).to.include({ model: recipePaths(dir).model, episodes: select.bestEpisode });

    // Killed in the final stage, re-run with resume: the same final model.
    const again = tempDir();
    const killAt = Math.max(2, select.bestEpisode - 2);
    let stage = '';
    await trainRecipe(config, again, {
      onStage: (s) => {
        stage = s;
      },
      onEpisode: (e) => {
        if (stage === 'final' && e === killAt) throw new Error('killed');
      },
    }).catch((err: Error) => expect(err.message).to.equal('killed'));
    expect(fs.existsSync(recipePaths(again).model)).to.equal(false);
    await trainRecipe(config, again, { resume: true });
    expect(await weights(recipePaths(again).model)).to.deep.equal(await weights(recipePaths(dir).model));
    expect(await weights(runPaths(recipePaths(again).select).best)).to.deep.equal(
      await weights(runPaths(recipePaths(dir).select).best),
    );
  });

  it('refuses a teacher folder that is not a finished recipe run', () => {
    const dir = tempDir();
    expect(() => recipeTeacher(dir)).to.throw(/not a run folder/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ dataset: 'synthetic' }));
    expect(() => recipeTeacher(dir)).to.throw(/not a recipe run/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ recipe: 'tiny', finalSplit: 'val' }));
    expect(() => recipeTeacher(dir)).to.throw(/has not finished its final stage/);
  });
});
